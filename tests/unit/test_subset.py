"""Tests for clipcurate.sample.subset: sampler config checks naming the recipe key, the stats JSON and the
repetition histogram PNG written beside each subset, and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from PIL import Image

from clipcurate.core import poolindex, scorefiles, uidcodec
from clipcurate.sample import subset
from clipcurate.sample import histogram
from clipcurate.sample.validate import SamplingError
from tests.conftest import hex_uid
from tests.figures import vertical_bars

REPO = Path(__file__).resolve().parents[2]
SCORES = np.array([0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 3.0, 1.0], dtype=np.float32)


@pytest.fixture
def pool(tmp_path, make_index):
    """An 8-row index and a score file aligned to it; returns (index, scores, uids)."""
    uids = [hex_uid(i) for i in range(len(SCORES))]
    index = make_index(uids)
    scores = tmp_path / "scores.parquet"
    scorefiles.write_scores(scores, pa.array(uids), {"score": SCORES}, poolindex.index_fingerprint(index))
    return index, scores, uids


def _write(tmp_path, index, scores, sample_cfg, recipe="r", n_target=20, seed=0):
    out = {k: tmp_path / "subsets" / f"{recipe}.{k}" for k in ("parquet", "npy", "stats.json", "hist.png")}
    stats = subset.write_recipe_subset(
        recipe, sample_cfg, index, scores, out["parquet"], out["npy"], n_target, seed,
        out_stats=out["stats.json"], out_hist=out["hist.png"],
    )
    return stats, out


def _assert_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        img.verify()
        assert img.format == "PNG"
    with Image.open(path) as img:
        assert img.size[0] > 100 and img.size[1] > 100


# ------------------------------------------------------------------------------------------------
# stats JSON and histogram
# ------------------------------------------------------------------------------------------------


def test_stats_json_and_png_match_a_hand_computed_count_vector(tmp_path, pool, monkeypatch, drawn):
    index, scores, uids = pool
    counts = np.array([3, 0, 1, 1, 0, 6, 3, 1], dtype=np.int64)  # 6 unique, 15 total, max 6
    monkeypatch.setattr(subset, "select", lambda *a, **k: counts)
    cfg = {"method": "scs", "alpha": 0.2}
    stats, out = _write(tmp_path, index, scores, cfg, recipe="hand", n_target=15, seed=7)
    on_disk = json.loads(out["stats.json"].read_text())
    assert on_disk == {
        "recipe": "hand",
        "n_pool": 8,
        "n_unique": 6,
        "n_total": 15,
        "max_count": 6,
        "mean_count": 2.5,
        "histogram": {"1": 3, "3": 2, "6": 1},  # counts of 2, 4 and 5 do not occur
        "sample": {"method": "scs", "alpha": 0.2},
        "sampler": {"method": "scs", "alpha": 0.2, "n": 15, "group_size": 1},  # ceil(15 / 1280)
        "seed": 7,
        "n_target": 15,
    }
    assert stats["histogram"] == {1: 3, 3: 2, 6: 1}
    _assert_png(out["hist.png"])
    (fig, _), = drawn  # the histogram drawn: 3 examples once, 2 three times, 1 six times
    (ax,) = fig.axes
    assert vertical_bars(ax) == [(1, 3), (3, 2), (6, 1)] and ax.get_yscale() == "log"
    assert ax.get_title() == "hand: scs alpha=0.2 n=15 group_size=1" and ax.texts[0].get_text() == "unique 6\ntotal 15\nmax 6"
    # the subset agrees with the stats
    table = scorefiles.read_subset(out["parquet"])
    assert table.column("uid").to_pylist() == [u for u, c in zip(uids, counts) if c]
    assert table.column("count").to_pylist() == [3, 1, 1, 6, 3, 1]
    assert len(np.load(out["npy"])) == 15


def test_real_sampler_stats_agree_with_the_subset(tmp_path, pool):
    index, scores, _ = pool
    stats, out = _write(tmp_path, index, scores, {"method": "hcs", "beta": 4}, n_target=20, seed=3)
    table = scorefiles.read_subset(out["parquet"])
    c = np.array(table.column("count").to_pylist())
    on_disk = json.loads(out["stats.json"].read_text())
    assert on_disk["n_total"] == c.sum() == 20 and on_disk["n_unique"] == len(c)
    assert on_disk["max_count"] == c.max() <= 4
    assert on_disk["histogram"] == {str(r): int((c == r).sum()) for r in np.unique(c)}
    assert on_disk["sampler"] == {"method": "hcs", "beta": 4, "n": 20}
    _assert_png(out["hist.png"])
    # deterministic: the same config gives the same stats
    again, _ = _write(tmp_path / "again", index, scores, {"method": "hcs", "beta": 4}, n_target=20, seed=3)
    assert again == stats


def test_threshold_and_pool_methods_record_no_n(tmp_path, pool):
    index, scores, _ = pool
    stats, out = _write(tmp_path, index, scores, {"method": "threshold", "fraction": 0.5})
    assert stats["histogram"] == {1: 4} and stats["sampler"] == {"method": "threshold", "fraction": 0.5}
    kept = set(scorefiles.read_subset(out["parquet"]).column("uid").to_pylist())
    assert kept == {hex_uid(i) for i in np.argsort(-SCORES)[:4]}
    stats, out = _write(tmp_path, index, None, {"method": "all"}, recipe="everything")
    assert stats["histogram"] == {1: 8} and stats["sampler"] == {"method": "all"}
    _assert_png(out["hist.png"])


# ------------------------------------------------------------------------------------------------
# errors name recipes.<recipe>.sample.<key>
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"method": "scs", "alpha": -1}, "recipes.sweep.sample.alpha: must be >= 0, got -1"),
        ({"method": "scs", "alpha": -0.5, "group_size": 4}, "recipes.sweep.sample.alpha: must be >= 0, got -0.5"),
        ({"method": "scs", "alpha": 0.1, "group_size": 0}, "recipes.sweep.sample.group_size: must be an integer >= 1, got 0"),
        ({"method": "hcs", "beta": 0}, "recipes.sweep.sample.beta: must be an integer >= 1, got 0"),
        ({"method": "hcs", "beta": -3}, "recipes.sweep.sample.beta: must be an integer >= 1, got -3"),
        ({"method": "hcs", "beta": 2.5}, "recipes.sweep.sample.beta: must be an integer >= 1, got 2.5"),
        ({"method": "scs", "alpha": 0.1, "n": 0}, "recipes.sweep.sample.n: must be an integer >= 1, got 0"),
        ({"method": "hcs", "beta": 5, "n": -10}, "recipes.sweep.sample.n: must be an integer >= 1, got -10"),
        ({"method": "nocap", "n": 0}, "recipes.sweep.sample.n: must be an integer >= 1, got 0"),
        ({"method": "threshold", "fraction": 0}, "recipes.sweep.sample.fraction: must be in (0, 1], got 0"),
        ({"method": "threshold", "fraction": -0.1}, "recipes.sweep.sample.fraction: must be in (0, 1], got -0.1"),
        ({"method": "threshold", "fraction": 1.5}, "recipes.sweep.sample.fraction: must be in (0, 1], got 1.5"),
        ({"method": "threshold"}, "recipes.sweep.sample.fraction: sampler 'threshold' needs parameter 'fraction'"),
        ({"method": "hcs"}, "recipes.sweep.sample.beta: sampler 'hcs' needs parameter 'beta'"),
        ({"method": "hcs", "beta": 2, "alpha": 1}, "recipes.sweep.sample.alpha: sampler 'hcs' does not take 'alpha'; it takes ['beta', 'batch_size']"),
        ({"method": "softcap"}, "recipes.sweep.sample.method: expected one of all, keep, counts, hcs, nocap, scs, threshold, got 'softcap'"),
        ({"method": "all", "n": 5}, "recipes.sweep.sample.n: method 'all' takes no parameter; remove 'n'"),
    ],
)
def test_select_errors_name_the_recipe_key(cfg, message):
    columns = {"score": SCORES}
    with pytest.raises(SamplingError) as err:
        subset.select(cfg, columns, len(SCORES), 10, 0, recipe="sweep")
    assert str(err.value) == message
    # without a recipe the key is still named, relative to the sample section
    with pytest.raises(SamplingError) as err:
        subset.select(cfg, columns, len(SCORES), 10, 0)
    assert str(err.value) == message.replace("recipes.sweep.sample.", "sample.")


def test_n_zero_is_an_error_not_the_default():
    # `n: 0` used to fall back to n_target silently (0 is falsy)
    with pytest.raises(SamplingError, match=r"^recipes\.x\.sample\.n: must be an integer >= 1, got 0$"):
        subset.resolve_sample_cfg({"method": "nocap", "n": 0}, 40960, "x")
    assert subset.resolve_sample_cfg({"method": "nocap", "n": 7}, 40960, "x") == {"method": "nocap", "n": 7}
    assert subset.resolve_sample_cfg({"method": "scs", "alpha": 0.1}, 40960, "x") == {
        "method": "scs", "alpha": 0.1, "n": 40960, "group_size": 32,
    }


def test_threshold_rejects_n_it_would_ignore():
    with pytest.raises(SamplingError, match=r"^recipes\.t\.sample\.n: method 'threshold' keeps floor"):
        subset.resolve_sample_cfg({"method": "threshold", "fraction": 0.1, "n": 100}, 40960, "t")


def test_score_dependent_errors_name_the_recipe():
    with pytest.raises(SamplingError, match=r"^recipes\.r\.sample: beta: beta \* len\(scores\) = 2 \* 8 = 16 < n_target = 20"):
        subset.select({"method": "hcs", "beta": 2}, {"score": SCORES}, 8, 20, 0, recipe="r")
    with pytest.raises(SamplingError, match=r"^recipes\.r\.sample\.method: 'scs' needs a score or a mix"):
        subset.select({"method": "scs", "alpha": 0.1}, None, 8, 20, 0, recipe="r")
    with pytest.raises(SamplingError, match=r"^recipes\.r\.sample\.method: 'keep' needs a boolean 'keep' column"):
        subset.select({"method": "keep"}, {"score": SCORES}, 8, 20, 0, recipe="r")


def test_counts_sampler_takes_the_count_column_unchanged(tmp_path, pool):
    # a score file with repeat counts (as a quality-duplication method writes it): the subset holds each
    # sample with its count, and DataComp's .npy lists each uid count times, sorted
    index, _, uids = pool
    counts = np.array([2, 0, 1, 0, 5, 0, 0, 3], dtype=np.uint32)
    path = tmp_path / "dup.parquet"
    scorefiles.write_scores(path, pa.array(uids), {"score": SCORES, "count": counts}, poolindex.index_fingerprint(index))
    stats, out = _write(tmp_path, index, path, {"method": "counts"}, recipe="dup")
    table = scorefiles.read_subset(out["parquet"])
    assert dict(zip(table.column("uid").to_pylist(), table.column("count").to_pylist())) == {
        uids[0]: 2, uids[2]: 1, uids[4]: 5, uids[7]: 3,
    }
    listed = uidcodec.pairs_to_uids(np.load(out["npy"]))
    assert len(listed) == 11 and listed == sorted(listed, key=lambda u: int(u, 16))
    assert {u: listed.count(u) for u in set(listed)} == {uids[0]: 2, uids[2]: 1, uids[4]: 5, uids[7]: 3}
    assert (stats["n_unique"], stats["n_total"], stats["max_count"]) == (4, 11, 5)
    assert stats["sampler"] == {"method": "counts"}


@pytest.mark.parametrize("columns, message", [
    ({"score": SCORES}, r"'counts' needs a 'count' column \(repeat counts\); found \['score'\]"),
    ({"count": np.arange(8) * 0.5}, r"'counts': column 'count': expected non-negative integer repeat counts, got dtype float64"),
    ({"count": np.array([1, 0, 2, -1, 0, 0, 0, 0])}, r"'counts': column 'count': row 3 has count -1; expected an integer"),
    ({"count": np.ones(5, dtype=np.int64)}, r"'counts': column 'count' has 5 rows, the pool 8"),
])
def test_counts_sampler_errors_name_the_recipe(columns, message):
    with pytest.raises(SamplingError, match=rf"^recipes\.r\.sample\.method: {message}"):
        subset.select({"method": "counts"}, columns, 8, 20, 0, recipe="r")
    with pytest.raises(SamplingError, match=r"^recipes\.r\.sample\.n: method 'counts' takes no parameter"):
        subset.select({"method": "counts", "n": 3}, {"count": np.ones(8, dtype=np.int64)}, 8, 20, 0, recipe="r")


# ------------------------------------------------------------------------------------------------
# nothing already written is lost
# ------------------------------------------------------------------------------------------------


def test_bad_config_leaves_previous_outputs_intact(tmp_path, pool):
    index, scores, _ = pool
    _, out = _write(tmp_path, index, scores, {"method": "scs", "alpha": 0.3}, n_target=20)
    before = {k: p.read_bytes() for k, p in out.items()}
    for bad in ({"method": "scs", "alpha": -1}, {"method": "hcs", "beta": 1}):  # beta * 8 < 20: fails after reading
        with pytest.raises(SamplingError, match=r"recipes\.r\.sample"):
            _write(tmp_path, index, scores, bad, n_target=20)
    assert {k: p.read_bytes() for k, p in out.items()} == before
    assert sorted(p.name for p in (tmp_path / "subsets").iterdir()) == sorted(p.name for p in out.values())


def test_failed_plot_leaves_no_partial_png(tmp_path, pool, monkeypatch):
    index, scores, _ = pool

    def boom(*a, **k):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(histogram, "repetition_histogram", boom)
    with pytest.raises(RuntimeError, match="plot failed"):
        _write(tmp_path, index, scores, {"method": "threshold", "fraction": 0.5})
    names = sorted(p.name for p in (tmp_path / "subsets").iterdir())
    assert names == ["r.npy", "r.parquet", "r.stats.json"]  # complete files only, no temporaries


# ------------------------------------------------------------------------------------------------
# the Figure 3 sweeps
# ------------------------------------------------------------------------------------------------


def test_sampler_sweeps_and_figure3_table():
    """The Figure 3 sweeps cover the paper's ranges on M-FLYT scores, every shipped recipe's sampler
    resolves, and the figure's rows are exactly the sweep recipes."""
    recipes = yaml.safe_load((REPO / "config/recipes/sampler_sweeps.yaml").read_text())
    n_target = yaml.safe_load((REPO / "config/scales/tiny.yaml").read_text())["scale"]["samples_seen"]
    for path in sorted((REPO / "config/recipes").glob("*.yaml")):
        for name, r in yaml.safe_load(path.read_text()).items():
            subset.resolve_sample_cfg(r["sample"], n_target, name)  # raises on an invalid sampler
    assert all(r.get("mix") == "mflyt" for r in recipes.values())
    by_method = {}
    for r in recipes.values():
        by_method.setdefault(r["sample"]["method"], []).append(r["sample"])
    assert [p["alpha"] for p in by_method["scs"]] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert [p["beta"] for p in by_method["hcs"]] == [5, 10, 15, 20, 25]
    assert [p["fraction"] for p in by_method["threshold"]] == [0.05, 0.10, 0.15, 0.20, 0.25]
    assert by_method["nocap"] == [{"method": "nocap"}]
    table = yaml.safe_load((REPO / "config/tables/figure3.yaml").read_text())["figure3"]
    # the sweeps, with the paper's α = 0.15 (FLYT's own SCS recipe, config/recipes/flyt.yaml) and
    # α = 0.25 (Table 14) among the SCS rows
    rows = [row["recipe"] for row in table["rows"]]
    assert [r for r in rows if r not in ("mflyt_scs015", "mflyt_scs_a025")] == list(recipes)
    assert rows.index("mflyt_scs015") == rows.index("mflyt_scs_a010") + 1
    assert rows.index("mflyt_scs_a025") == rows.index("mflyt_scs_a020") + 1
