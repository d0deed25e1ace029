"""FLYT Table 4 / Figure 4 (the small scale): the seeded sub-pool that stands in for DataComp small
(score method ``subpool``), recipes that sample only among its rows (``within``) with their own training
budget (``train``), the configs at tiny and small scale, and the plan of ``table4`` / ``figure4``."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from clipcurate.core import fileio, poolindex, scorefiles
from clipcurate.sample import subset, within as within_mod
from clipcurate.sample.validate import SamplingError
from clipcurate.scores import get
from tests.conftest import hex_uid
from tests.unit.test_scale_configs import merged

REPO = Path(__file__).resolve().parents[2]
SMALL_RECIPES = [
    "small_no_filter", *(f"small_mflyt_threshold_f{f}" for f in (10, 15, 20, 25, 30)),
    *(f"small_mflyt_scs_a{a}" for a in ("015", "025", "050", "075", "100")),
]


def _uids(m: int, seed: int = 1) -> list[str]:
    """``m`` random 32-hex uids (DataComp's form)."""
    rng = np.random.default_rng(seed)
    return [f"{int(a):016x}{int(b):016x}" for a, b in rng.integers(0, 2**63, size=(m, 2), dtype=np.int64)]


def _subpool(uids, fraction, seed=0) -> np.ndarray:
    """The registered method, called as the runner calls it (one chunk's metadata table)."""
    return get("subpool").func({"fraction": fraction, "seed": seed}, meta=pa.table({"uid": uids}))["keep"]


# ---- the sub-pool draw ------------------------------------------------------------------------


def test_subpool_is_the_documented_hash_draw():
    """keep <=> int(blake2b("{seed}:{uid}", 8 bytes)) / 2**64 < fraction, computed here by hand."""
    uids = _uids(200)
    expected = [int.from_bytes(hashlib.blake2b(f"7:{u}".encode(), digest_size=8).digest(), "big") / 2**64 < 0.3
                for u in uids]
    assert _subpool(uids, 0.3, seed=7).tolist() == expected


@pytest.mark.parametrize("fraction", [0.1, 0.25])
def test_subpool_size_is_within_binomial_bounds(fraction):
    """Its size is Binomial(M, f): within 5 standard deviations (a deterministic draw: it holds or not,
    on any machine; a fair draw fails it with probability < 1e-6)."""
    m = 20000
    k = int(_subpool(_uids(m), fraction).sum())
    assert abs(k - m * fraction) <= 5 * math.sqrt(m * fraction * (1 - fraction)), k


def test_subpool_is_reproducible_nested_and_independent_of_order_and_chunking():
    uids = _uids(5000)
    a = _subpool(uids, 0.25)
    assert np.array_equal(a, _subpool(uids, 0.25))  # the same seed: the same sub-pool
    # nested: a smaller fraction's sub-pool is inside a larger one's; fraction 1 is the whole pool
    small = _subpool(uids, 0.1)
    assert not (small & ~a).any() and small.sum() < a.sum()
    assert _subpool(uids, 1.0).all()
    # a sample's membership depends on its uid alone: another order, or two chunks, give the same
    perm = np.random.default_rng(0).permutation(len(uids))
    assert np.array_equal(_subpool([uids[i] for i in perm], 0.25), a[perm])
    assert np.array_equal(np.concatenate([_subpool(uids[:1234], 0.25), _subpool(uids[1234:], 0.25)]), a)


def test_subpool_seeds_draw_independent_subpools():
    """Another seed: another sub-pool, overlapping as two independent draws do (M f^2, within 5 SD)."""
    m, f = 20000, 0.25
    uids = _uids(m)
    a, b = _subpool(uids, f, seed=0), _subpool(uids, f, seed=1)
    overlap = int((a & b).sum())
    p = f * f
    assert abs(overlap - m * p) <= 5 * math.sqrt(m * p * (1 - p)), overlap


@pytest.mark.parametrize("params, key", [({"fraction": 0}, "fraction"), ({"fraction": 1.5}, "fraction"),
                                         ({}, "fraction"), ({"fraction": 0.1, "seed": -1}, "seed")])
def test_subpool_params_are_checked_when_the_config_is_read(params, key):
    with pytest.raises(ValueError, match=rf"scores\.sp\.params\.{key}"):
        get("subpool").check({"method": "subpool", "params": params}, {}, "scores.sp")


# ---- sampling within a sub-pool ---------------------------------------------------------------


def _pool(m=400, seed=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=m).astype(np.float32), rng.random(m) < 0.3


def test_threshold_within_keeps_the_top_fraction_of_the_subpool():
    """A threshold fraction is of the sub-pool: floor(f * |sub-pool|) rows, the highest scores among its
    rows (brute force: sort the sub-pool's scores), none outside it."""
    s, within = _pool()
    counts = within_mod.select_within({"method": "threshold", "fraction": 0.2}, {"score": s}, within, 10240, 0)
    idx = np.flatnonzero(within)
    n = math.floor(0.2 * len(idx))
    expected = np.zeros(len(s), dtype=np.int64)
    expected[idx[np.argsort(-s[idx], kind="stable")[:n]]] = 1
    assert np.array_equal(counts, expected) and counts.sum() == n


def test_all_within_is_the_subpool_once():
    s, within = _pool()
    counts = within_mod.select_within({"method": "all"}, None, within, 10240, 0)
    assert np.array_equal(counts, within.astype(np.int64))


def test_scs_within_draws_n_samples_from_the_subpool_only():
    """The restricted SCS recipe: N = the recipe's samples_seen, all of them small-pool rows, G the
    paper's 1280 rounds of N (ceil(10240 / 1280) = 8)."""
    recipe = {"mix": "mflyt", "within": "subpool_small:keep", "sample": {"method": "scs", "alpha": 0.5},
              "train": {"samples_seen": 10240, "warmup": 13}}
    scale = {"samples_seen": 40960, "warmup": 40, "batch_size": 128}
    n = within_mod.recipe_n_target(recipe, scale)
    assert n == 10240 and within_mod.recipe_scale(recipe, scale) == {"samples_seen": 10240, "warmup": 13, "batch_size": 128}
    assert subset.resolve_sample_cfg(recipe["sample"], n)["group_size"] == 8
    s, within = _pool(m=2000)
    counts = within_mod.select_within(recipe["sample"], {"score": s}, within, n, 0)
    assert counts.sum() == 10240
    assert (counts[~within] == 0).all() and (counts[within] > 0).sum() > 0
    # the highest-scoring small-pool row is drawn more often than the lowest (the softmax over logits)
    idx = np.flatnonzero(within)
    assert counts[idx[np.argmax(s[idx])]] > counts[idx[np.argmin(s[idx])]]


def test_within_errors_name_the_recipe():
    s, within = _pool()
    with pytest.raises(SamplingError, match=r"recipes\.r\.sample: 'within' needs a boolean"):
        within_mod.select_within({"method": "all"}, None, within.astype(np.float32), 10, 0, recipe="r")
    with pytest.raises(SamplingError, match=r"group_size"):  # a round larger than the sub-pool
        within_mod.select_within({"method": "scs", "alpha": 0.5, "group_size": 10000}, {"score": s}, within, 20000, 0,
                                 recipe="r")


def test_recipe_subset_from_files_holds_only_subpool_uids(tmp_path, make_index):
    """Through the sample job's function: the subset's uids are all in the sub-pool file's keep, and the
    stats record the sub-pool's size."""
    uids = [hex_uid(i) for i in range(300)]
    index = make_index(uids)
    s, within = _pool(m=300, seed=5)
    fp = poolindex.index_fingerprint(index)
    scorefiles.write_scores(tmp_path / "mix.parquet", pa.array(uids), {"score": s}, fp)
    scorefiles.write_scores(tmp_path / "sub.parquet", pa.array(uids), {"keep": within}, fp)
    out = {k: tmp_path / f"r.{k}" for k in ("parquet", "npy", "json")}
    stats = within_mod.write_within_subset("r", {"method": "scs", "alpha": 0.5}, index, tmp_path / "mix.parquet",
                                           tmp_path / "sub.parquet", "sub:keep", out["parquet"], out["npy"], 512, 0,
                                           out_stats=out["json"], out_hist=tmp_path / "r.hist.png")
    table = fileio.read_parquet(out["parquet"])
    chosen = set(table.column("uid").to_pylist()) if "count" not in table.column_names else {
        u for u, c in zip(table.column("uid").to_pylist(), table.column("count").to_pylist()) if c > 0}
    assert chosen and chosen <= {u for u, w in zip(uids, within) if w}
    assert stats["n_within"] == int(within.sum()) and stats["n_total"] == 512
    assert (tmp_path / "r.hist.png").stat().st_size > 0 and json.loads(out["json"].read_text())["n_within"] == stats["n_within"]


# ---- the configs ------------------------------------------------------------------------------


def test_tiny_recipes_shrink_pool_and_budget_by_the_same_factor():
    """The paper shrinks the pool and the samples seen by one factor (128M -> 12.8M); here both by the
    sub-pool's fraction, and every Table 4 / Figure 4 recipe samples within the sub-pool."""
    cfg = merged("tiny")
    f = cfg["scores"]["subpool_small"]["params"]["fraction"]
    for name in SMALL_RECIPES:
        r = cfg["recipes"][name]
        assert r["within"] == "subpool_small:keep", name
        assert r["train"]["samples_seen"] == round(f * cfg["scale"]["samples_seen"]), name
    rows = {t: [r["recipe"] for r in cfg["tables"][t]["rows"]] for t in ("table4", "figure4")}
    assert set(rows["table4"]) | set(rows["figure4"]) == set(SMALL_RECIPES)
    assert cfg["tables"]["figure4"]["plot"]["kind"] == "lines"


def test_small_scale_uses_datacomp_small_itself_with_its_budget():
    cfg = merged("small")
    assert cfg["scores"]["subpool_small"]["params"]["fraction"] == 1.0
    for name in SMALL_RECIPES:
        assert cfg["recipes"][name]["train"] == {"samples_seen": cfg["scale"]["samples_seen"],
                                                 "warmup": cfg["scale"]["warmup"]}, name


def test_table4_and_figure4_plan_on_the_tiny_world(tmp_path):
    """A dry run of both targets: 7 + 10 rows share 6 recipes, so 11 subset trainings and the
    `no_filter` CLIP (M-FLYT's reference init), one M-FLYT run, and each small-pool sample job reads the
    sub-pool's score file."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "results/tables/table4.csv", "results/tables/figure4.png",
                           "-n", "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    trained = {line.split("=", 1)[1] for line in out.splitlines() if line.strip().startswith("wildcards: recipe=")}
    assert set(SMALL_RECIPES) <= trained
    assert out.count("rule train:") == len(SMALL_RECIPES) + 1  # + no_filter, the nofilter reference model
    assert out.count("rule train_mflyt:") == 1
    for name in SMALL_RECIPES:
        block = out.split(f"output: results/subsets/{name}.parquet")[0].rsplit("rule ", 1)[1]
        assert block.startswith("sample_within:") and "results/scores/subpool_small.parquet" in block, name
    assert out.count("rule sample_within:") == len(SMALL_RECIPES)
    plain = out.split("output: results/subsets/no_filter.parquet")[0].rsplit("rule ", 1)[1]
    assert plain.startswith("sample:")  # a recipe without `within` keeps the plain sample rule


# ---- the medium mixer reused at real scale (mixes.<name>.method: mflyt_import) -----------------


def _mixer_file(path, inputs):
    import json

    k = len(inputs)
    path.write_text(json.dumps({"inputs": list(inputs), "weights": [0.5 + i for i in range(k)],
                                "mean": [0.0] * k, "std": [1.0] * k}))
    return path


def _import_config(mixer_path):
    import copy

    from tests.unit.test_bad_inputs import SHIPPED, update_config

    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, {"mixes": {"mflyt": {"method": "mflyt_import", "mixer": str(mixer_path)}}})
    return cfg


def test_an_imported_mixer_is_planned_from_its_path_and_mixes_like_the_trained_one(tmp_path):
    """The mflyt mix given by a path: planned with the file as its artifact (no M-FLYT training) and
    the run's inputs; applied, it is the standardized weighted sum of the file's weights, checked
    against a direct computation."""
    from clipcurate.config import check as config_check
    from clipcurate.config.wiring import Wiring
    from clipcurate.mix import aggregate
    from clipcurate.mix.declared import resolve_declared

    inputs = merged("tiny")["flyt"]["runs"]["mflyt"]["inputs"]
    mixer = _mixer_file(tmp_path / "medium_mixer.json", inputs)
    cfg = _import_config(mixer)
    config_check.prepare(cfg, REPO)
    w = Wiring(cfg, REPO)
    plan = w.mix_plan("mflyt")
    assert plan.method == "mflyt_import" and plan.artifacts == {"mixer": str(mixer)} and plan.inputs == inputs
    assert ("train_mflyt", "mflyt") not in w.dependencies(["small_mflyt_scs_a050"])["artifacts"]
    method, params = resolve_declared(plan.method, plan.params, plan.inputs, plan.artifacts)
    rng = np.random.default_rng(0)
    cols = {n: rng.normal(loc=i, scale=1 + i, size=500).astype(np.float32) for i, n in enumerate(inputs)}
    got = aggregate.mix(method, cols, params)["score"]
    expected = sum((0.5 + i) * (cols[n].astype(np.float64) - cols[n].mean(dtype=np.float64)) / cols[n].std(dtype=np.float64)
                   for i, n in enumerate(inputs))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_an_imported_mixer_is_checked_when_the_workflow_is_planned(tmp_path):
    from clipcurate.config import check as config_check
    from clipcurate.config.errors import ConfigError

    inputs = merged("tiny")["flyt"]["runs"]["mflyt"]["inputs"]
    with pytest.raises(ConfigError, match=r"mixes\.mflyt\.mixer: .*missing\.json is not a file"):
        config_check.prepare(_import_config(tmp_path / "missing.json"), REPO)
    with pytest.raises(ConfigError, match=r"mixes\.mflyt\.mixer: .* mixes \['clip_score'\], but flyt\.runs\.mflyt\.inputs"):
        config_check.prepare(_import_config(_mixer_file(tmp_path / "other.json", ["clip_score"])), REPO)
    with pytest.raises(ConfigError, match=r"mixes\.mflyt\.mixer: results/flyt/mflyt/mixer.json is the mixer this working directory trains"):
        config_check.prepare(_import_config("results/flyt/mflyt/mixer.json"), REPO)


def test_a_restricted_recipe_says_so_in_its_description_and_trains_with_its_budget():
    from clipcurate.config import check as config_check
    from clipcurate.config.wiring import Wiring
    from tests.unit.test_bad_inputs import SHIPPED
    import copy

    cfg = copy.deepcopy(SHIPPED)
    config_check.prepare(cfg, REPO)
    w = Wiring(cfg, REPO)
    text = w.describe_recipe("small_mflyt_scs_a050")
    assert "within subpool_small:keep" in text and "samples_seen=20480" in text
    assert "within" not in w.describe_recipe("mflyt_scs015")
    assert w.recipe_scale(cfg["recipes"]["small_no_filter"])["samples_seen"] == 20480
    assert w.recipe_scale(cfg["recipes"]["mflyt_scs015"]) == cfg["scale"]  # others: the scale unchanged
    assert w.recipe_within_file(cfg["recipes"]["small_no_filter"]) == "results/scores/subpool_small.parquet"
    assert w.recipe_within_file(cfg["recipes"]["mflyt_scs015"]) == []


def test_a_round_larger_than_the_expected_subpool_is_refused_when_planned():
    """SCS over a sub-pool: a round (G distinct draws) must fit the sub-pool's expected size, checked
    from the config (floor(0.5 * 20,000) = 10,000 here), not only when the sample job runs."""
    from clipcurate.config import check as config_check
    from clipcurate.config.errors import ConfigError
    from tests.unit.test_bad_inputs import SHIPPED, update_config
    import copy

    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, {"recipes": {"small_mflyt_scs_a050": {"sample": {"method": "scs", "alpha": 0.5, "group_size": 12000}}}})
    with pytest.raises(ConfigError, match=r"recipes\.small_mflyt_scs_a050\.sample\.group_size: .* more than the pool's "
                                          r"10000 \(the expected size of the sub-pool subpool_small:keep\)"):
        config_check.prepare(cfg, REPO)
    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, {"recipes": {"small_mflyt_scs_a050": {"sample": {"method": "scs", "alpha": 0.5, "group_size": 9000}}}})
    config_check.prepare(cfg, REPO)


def _head_file(path, arch):
    import torch

    from clipcurate.train.flyt.scorers import GLUHead

    torch.manual_seed(0)
    head = GLUHead(8)
    torch.save({"state_dict": head.state_dict(), "d_in": 8, "hidden_mult": 1.0, "embed_spec": {"arch": arch}}, path)
    return head


def _eflyt_import_config(head_path):
    import copy

    from tests.unit.test_bad_inputs import SHIPPED, update_config

    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, {"scores": {"eflyt": {"method": "eflyt_import", "flyt": None, "head": str(head_path)}}})
    return cfg


def test_an_imported_eflyt_head_scores_without_training_eflyt(tmp_path):
    """The eflyt score given a medium run's head.pt (FLYT Table 4): planned with the file as its
    artifact and the score's embeddings, no E-FLYT training; applied, the head's GLU output."""
    import torch

    from clipcurate.config import check as config_check
    from clipcurate.config.wiring import Wiring
    from clipcurate.scores import get

    arch = merged("tiny")["models"][merged("tiny")["scores"]["eflyt"]["model"]]["arch"]
    head = _head_file(tmp_path / "head.pt", arch)
    cfg = _eflyt_import_config(tmp_path / "head.pt")
    config_check.prepare(cfg, REPO)
    w = Wiring(cfg, REPO)
    plan = w.score_plan("eflyt")
    assert plan.method == "eflyt_import"
    assert ("train_eflyt", "eflyt") not in w.dependencies(["small_mflyt_scs_a050"])["artifacts"]
    rng = np.random.default_rng(0)
    img, txt = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = head(torch.from_numpy(np.concatenate([img, txt], 1))).numpy()
    out = get("eflyt_import").func({}, emb={"image": img, "text": txt}, head=str(tmp_path / "head.pt"))
    np.testing.assert_allclose(out["score"], expected, rtol=1e-6)


def test_an_imported_eflyt_head_is_checked_when_the_workflow_is_planned(tmp_path):
    from clipcurate.config import check as config_check
    from clipcurate.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"scores\.eflyt\.head: .*missing\.pt is not a file"):
        config_check.prepare(_eflyt_import_config(tmp_path / "missing.pt"), REPO)
    with pytest.raises(ConfigError, match=r"scores\.eflyt\.head: results/flyt/eflyt/head.pt is a head this working directory trains"):
        config_check.prepare(_eflyt_import_config("results/flyt/eflyt/head.pt"), REPO)
    _head_file(tmp_path / "l14.pt", "ViT-L-14")
    with pytest.raises(ConfigError, match=r"trained on ViT-L-14 embeddings, but the score's model is tiny-clip"):
        config_check.prepare(_eflyt_import_config(tmp_path / "l14.pt"), REPO)
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match=r"junk\.pt is not an E-FLYT head\.pt"):
        config_check.prepare(_eflyt_import_config(tmp_path / "junk.pt"), REPO)
