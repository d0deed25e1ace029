"""Digit enhancement at real scale (method ``digits_blip2``): BLIP-2 from the tiny random checkpoint
test_digits.py saves, run by the workflow's planner and runner on a crafted pool's shards through the
``Images`` input. Its answers are forced to "yes" or "no" (the output head replaced after the same
``from_pretrained`` load), so the counts are hand-computed; an image-dependent head (yes on one side
of a direction in the model's hidden state of each image, computed here image by image) checks that
each row gets its own image's answer. Planning errors name the key; every real scale plans the
BLIP-2 digits stage."""

import copy
import io as _io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import webdataset as wds
import yaml
from PIL import Image

from clipcurate.config import check as config_check
from clipcurate.core import poolindex, scorefiles
from clipcurate.scores import get, register
from clipcurate.scores.helpers import digit_detect as D
from clipcurate.scores.inputs import Metadata
from clipcurate.scores.methods import digits as M
from clipcurate.scores.plan import PlanError, plan_score, score_files
from clipcurate.scores.runner import gather, run_score
from clipcurate.scores.stages import stage_resources
from tests.unit.test_digits import force_answer, tiny_blip2  # noqa: F401 - the saved tiny BLIP-2
from tests.unit.test_score_runner import CAPTIONS, CONFIG, KEYS, SHARDS, UIDS, world  # noqa: F401 - the crafted pool

REPO = Path(__file__).resolve().parents[2]
CORRUPT = (1, 4, 6)  # rows whose bytes do not decode: two in chunk 0, one in chunk 1
BASE = np.array([0, 2, 0, 1, 0, 3, 0], np.uint32)  # the previous stage's counts


@register("_digits_prev", level="chunk", inputs={"meta": Metadata(columns=("text",))}, outputs=("count", "keep"))
def _digits_prev(params, meta):  # pragma: no cover - planned, never run (its file is written by the fixture)
    return {}


def jpeg(i):
    rng = np.random.default_rng(10 + i)
    buf = _io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (30 + i, 36, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture
def pool(world):  # noqa: F811 - the fixture
    """The crafted pool's shards (keys in another order than the index's; rows CORRUPT do not
    decode) and the previous stage's score file."""
    for shard in (0, 1, 2):
        with wds.TarWriter(f"results/pool/shards/{shard:08d}.tar") as w:
            for i in [i for i in range(7) if SHARDS[i] == shard][::-1]:
                w.write({"__key__": KEYS[i], "jpg": b"not a jpeg" if i in CORRUPT else jpeg(i), "txt": CAPTIONS[i]})
    scorefiles.write_scores("results/scores/prev.parquet", pa.array(UIDS), {"count": BASE, "keep": BASE > 0}, fingerprint=poolindex.index_fingerprint("results/pool/index.parquet"))
    return world


def config(blip2, **params):
    return {**CONFIG, "scores": {"prev": {"method": "_digits_prev"},
                                 "dig": {"method": "digits_blip2", "blip2": str(blip2), "base": "prev:count",
                                         "params": {"batch_size": 2, **params}}}}


def run(cfg):
    """The score rule's path: the plan, one job per chunk, the gather (as test_score_runner.run)."""
    plan = plan_score(cfg, "dig").to_dict()
    parts = []
    for c in ("00000", "00001"):
        parts.append(f"results/scores/dig/chunks/{c}.parquet")
        run_score(plan, score_files(plan, chunk=c), parts[-1], chunk=int(c))
    gather(parts, "results/pool/index.parquet", "results/scores/dig.parquet")
    return scorefiles.read_scores("results/scores/dig.parquet", "results/pool/index.parquet")


def force(monkeypatch, word):
    """BLIP-2 loaded by the same call, its output head replaced to always say ``word``."""
    real = D.load_blip2

    def load(path, device="cpu", dtype="float32"):
        model, processor = real(path, device=device, dtype=dtype)
        force_answer(model, processor, word)
        return model, processor

    monkeypatch.setattr(D, "load_blip2", load)


@pytest.mark.parametrize("word, mode, weight, count", [
    # digit rows: the decodable ones (0, 2, 3, 5) when BLIP-2 says yes, none when it says no
    ("yes", "add_back", 2, [2, 2, 2, 1, 0, 3, 0]),   # dropped rows 0, 2 come back with 2 copies; 4, 6 do not decode
    ("yes", "upweight", 3, [0, 2, 0, 3, 0, 9, 0]),   # kept digit rows 3, 5 times 3; row 1 (kept) does not decode
    ("no", "add_back", 2, [0, 2, 0, 1, 0, 3, 0]),    # nothing changes
])
def test_digits_blip2_through_the_runner(pool, tiny_blip2, monkeypatch, word, mode, weight, count):  # noqa: F811
    force(monkeypatch, word)
    got = run(config(tiny_blip2, mode=mode, weight=weight))
    assert set(got) >= {"count", "keep", "score", "answer"}
    assert got["count"].dtype == np.uint32 and got["keep"].dtype == np.bool_
    assert got["score"].dtype == np.float32 and got["answer"].dtype == np.float32
    assert got["count"].tolist() == count
    assert got["keep"].tolist() == [c > 0 for c in count]
    said = 1.0 if word == "yes" else 0.0
    assert got["answer"].tolist() == [-2.0 if i in CORRUPT else said for i in range(7)]
    assert got["score"].tolist() == [0.0 if i in CORRUPT else said for i in range(7)]
    # the same counts as the tiny world's method's enhancement on the same decisions
    np.testing.assert_array_equal(got["count"], M.enhance(BASE, got["score"] == 1.0, mode, weight))


def test_digits_blip2_answers_follow_each_rows_own_image(pool, tiny_blip2, monkeypatch):  # noqa: F811
    """An image-dependent head: "yes" exactly when the model's last hidden state for an image lies on
    the positive side of a direction through the images' mean (computed here from each image alone),
    so that the answers differ between rows and each must land on its own row."""
    import torch

    ok = [i for i in range(7) if i not in CORRUPT]
    images = [Image.open(_io.BytesIO(jpeg(i))).convert("RGB") for i in ok]
    model, processor = D.load_blip2(tiny_blip2)
    hidden = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, inp, out: hidden.append(inp[0][:, -1].clone()))
    for im in images:  # one image at a time: its own state, whatever the batch
        D.ask_blip2(model, processor, [im], max_new_tokens=1)
    hook.remove()
    h = torch.cat(hidden)
    mean, direction = h.mean(0), h[0] - h.mean(0)
    side = ((h - mean) @ direction).numpy()
    assert np.abs(side).min() > 1e-3 * np.abs(side).max(), side  # no image near the boundary
    want = np.where(side > 0, 1.0, 0.0)
    assert 0 < want.sum() < len(ok)  # both answers occur
    yes, no = (processor.tokenizer.convert_tokens_to_ids(w) for w in ("yes", "no"))
    real = D.load_blip2

    def load(path, device="cpu", dtype="float32"):
        m, p = real(path, device=device, dtype=dtype)
        head = m.get_output_embeddings()
        forced = torch.nn.Linear(head.in_features, head.out_features, bias=True)
        scale = 50.0 / float(np.abs(side).min())
        with torch.no_grad():
            forced.weight.zero_()
            forced.bias.fill_(-1e4)
            forced.weight[yes] = scale * direction
            forced.bias[yes] = -scale * float(mean @ direction)
            forced.bias[no] = 0.0
        m.set_output_embeddings(forced)
        return m, p

    monkeypatch.setattr(D, "load_blip2", load)
    got = run(config(tiny_blip2, max_new_tokens=1, mode="add_back", weight=1))
    np.testing.assert_array_equal(got["answer"][ok], want)
    assert (got["answer"][list(CORRUPT)] == -2).all()
    np.testing.assert_array_equal(got["count"], M.enhance(BASE, got["answer"] == 1, "add_back", 1))


def test_device_auto(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert M.blip2_device("auto", "auto") == ("cuda", "float16")
    assert M.blip2_device("auto", "bfloat16") == ("cuda", "bfloat16")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert M.blip2_device("auto", "auto") == ("cpu", "float32")
    assert M.blip2_device("cuda:1", "auto") == ("cuda:1", "float16")


def test_planning_errors_name_the_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    good = config(tmp_path / "absent")  # a folder not there yet is the job's missing input, not a config error
    plan = plan_score(good, "dig")
    assert plan.inputs["blip2"]["path"] == str(tmp_path / "absent")
    assert plan.inputs["images"] == {"kind": "images"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlanError, match=r"scores\.dig\.blip2: .*empty has no config\.json"):
        plan_score(config(tmp_path / "empty"), "dig")
    cases = [
        ({"mode": "replace"}, r"scores\.dig\.params\.mode"),
        ({"weight": 0}, r"scores\.dig\.params\.weight"),
        ({"prompt": " "}, r"scores\.dig\.params\.prompt"),
        ({"batch_size": 0}, r"scores\.dig\.params\.batch_size"),
        ({"max_new_tokens": True}, r"scores\.dig\.params\.max_new_tokens"),
        ({"device": "gpu"}, r"scores\.dig\.params\.device"),
        ({"dtype": "half"}, r"scores\.dig\.params\.dtype"),
        ({"threshold": 0.5}, r"scores\.dig\.params\.threshold: unknown parameter"),
    ]
    for params, match in cases:
        with pytest.raises(PlanError, match=match):
            plan_score(config(tmp_path / "absent", **params), "dig")
    bad = copy.deepcopy(good)
    bad["scores"]["dig"]["base"] = "prev:score"
    with pytest.raises(PlanError, match=r"scores\.dig\.base"):
        plan_score(bad, "dig")
    del bad["scores"]["dig"]["blip2"]
    with pytest.raises(PlanError, match=r"scores\.dig\.blip2"):
        plan_score(bad, "dig")


@pytest.mark.parametrize("scale", ["small", "medium", "large", "xlarge"])
def test_real_scales_take_the_digits_stage_from_blip2(scale, tmp_path):
    """Each real scale's config passes the start-up checks, its Devil digits stage reads BLIP-2's
    counts over the row after SemDeDup, and the job asks for a GPU."""
    from tests.unit.test_devil_config import AGREED

    cfg = {}
    for p in (REPO / "config" / "config.yaml", REPO / "config" / "scales" / "tiny.yaml", REPO / "config" / "scales" / f"{scale}.yaml"):
        config_check._deep_update(cfg, yaml.safe_load(p.read_text()))
    cfg["pool"]["metadata_dir"] = "/data/datacomp/metadata"
    cfg["evaluation"]["data_root"] = str(tmp_path)
    for section in config_check.NAMED_SECTIONS:
        config_check.merge_named_files(cfg, REPO, section)
    for name, column in AGREED.items():
        cfg["scores"].setdefault(name, {"method": f"_devil_stub_{column}"})
    config_check.prepare(cfg, REPO)
    assert cfg["scores"]["devil_digits"]["inputs"] == ["digits_blip2:count"]
    entry = cfg["scores"]["digits_blip2"]
    assert entry["base"] == cfg["scores"]["digits"]["base"] == "devil_semdedup:count"
    plan = plan_score(cfg, "digits_blip2")
    assert plan.method == "digits_blip2" and plan.inputs["blip2"]["path"] == "resources/blip2-opt-2.7b"
    assert plan.params["prompt"] == D.DEFAULT_PROMPT and plan.params["mode"] == "add_back"
    assert stage_resources(get("digits_blip2"), entry, "scores.digits_blip2", "apply").gpu == 1
