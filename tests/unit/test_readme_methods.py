"""The README's "Adding a method" examples hold: their code, run through the planner and the runner."""

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from clipcurate.mix.plan import check_scores
from clipcurate.scores.plan import PlanError
from tests.unit.test_score_runner import CAPTIONS, CONFIG, run, world  # noqa: F401 - the crafted pool fixture
from tests.unit.test_stages import N, pool, run_staged  # noqa: F401 - a crafted 3-chunk pool and the staged jobs

README = Path(__file__).resolve().parents[2] / "README.md"


def section_blocks(lang):
    text = README.read_text()
    section = text[text.index("### Adding a method"):text.index("### Scores from outside")]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module", autouse=True)
def readme_methods():
    blocks = section_blocks("python")
    assert len(blocks) == 3
    for code in blocks:
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})


def test_metadata_text_filter(world):
    entry = yaml.safe_load(section_blocks("yaml")[0])["scores"]["caption_words"]
    got = run("caption_words", entry)
    # by hand: >= 2 words and >= 6 characters
    expected = [len(c.split()) >= 2 and len(c) >= 6 for c in CAPTIONS]
    assert expected == [True, False, True, True, False, True, False]
    assert got["keep"].tolist() == expected


def test_artifact_method(world, tmp_path):
    entry = yaml.safe_load(section_blocks("yaml")[1])["scores"]["hq_probe"]
    rng = np.random.default_rng(1)
    weight, bias = rng.normal(size=8).astype(np.float32), np.float32(0.1)
    Path("results/probes").mkdir(parents=True)
    np.savez(f"results/probes/{entry['probe']}.npz", weight=weight, bias=bias)
    got = run("hq_probe", {**entry, "model": "m"})
    logit = np.concatenate([world["img"], world["txt"]], axis=1) @ weight + bias
    np.testing.assert_allclose(got["score"], logit, rtol=1e-5, atol=1e-6)
    assert got["keep"].tolist() == (logit > 0).tolist()
    with pytest.raises(PlanError, match=r"scores\.hq_probe\.probe: required by method 'linear_probe'"):
        check_scores({**CONFIG, "scores": {"hq_probe": {"method": "linear_probe", "model": "m"}}})


def test_pool_level_method(pool):  # noqa: F811 - the fixture
    entry = yaml.safe_load(section_blocks("yaml")[2])["scores"]["dedup"]
    assert entry["resources"]["fit"] == {"mem_mb": 64000, "gpu": 1}
    got = run_staged("dedup", {**entry, "model": "m", "params": {"threshold": 0.97}})
    # by brute force over the whole pool: the fitted centroids' clusters, greedy in pool order
    from clipcurate.scores.stages import stage_path

    c = np.load(stage_path("dedup", "fit"))["centroids"]
    img = pool["img"]
    cluster = np.argmax(img @ c.T, axis=1)
    keep = np.ones(N, bool)
    for g in np.unique(cluster):
        kept = []
        for i in np.flatnonzero(cluster == g):
            if any(img[j] @ img[i] > 0.97 for j in kept):
                keep[i] = False
            else:
                kept.append(i)
    assert 0 < (~keep).sum() < N // 2
    assert got["keep"].tolist() == keep.tolist()
