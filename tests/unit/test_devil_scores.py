"""The Devil paper's combination methods on hand-computed cases: cross_filter (flipped CLIP and ITM)
and compose_counts (the stage-by-stage counts), run through the planner and the runner."""

import numpy as np
import pytest

from clipcurate.scores import get
from clipcurate.scores.methods.cross_filter import cut_list, zscore
from clipcurate.mix.plan import check_scores
from clipcurate.scores.plan import PlanError

FLIP = np.array([0.30, 0.10, 0.25, 0.18, 0.19, 0.40], np.float32)
ITM = np.array([0.90, 0.95, 0.40, 0.45, 0.60, 0.10], np.float32)


def run_cross(params):
    p = {**get("cross_filter").defaults, **params}
    return get("cross_filter").func(p, scores={"clip_score_hflip": FLIP, "itm": ITM})


def test_cross_filter_and_or_by_hand():
    # flipped >= 0.19 (the paper's cut; float32 0.19 counts): rows 0, 2, 4, 5; ITM >= 0.5: rows 0, 1, 4
    got = run_cross({"combine": "and", "thresholds": [0.19, 0.5]})
    assert got["keep"].tolist() == [True, False, False, False, True, False]
    got = run_cross({"combine": "or", "thresholds": [0.19, 0.5]})
    assert got["keep"].tolist() == [True, True, True, False, True, True]
    # a fraction cut is DataComp's: the value at index floor(6 * 0.5) = 3 of the descending scores
    # (0.40 0.30 0.25 0.19 0.18 0.10 -> 0.19), kept if >= it: rows 0, 2, 4, 5
    got = run_cross({"combine": "and", "thresholds": [None, 0.5], "fractions": [0.5, None]})
    assert got["keep"].tolist() == [True, False, False, False, True, False]


def test_cross_filter_zsum_by_hand():
    f, i = FLIP.astype(float), ITM.astype(float)
    z = (f - f.mean()) / f.std() + (i - i.mean()) / i.std()
    got = run_cross({"combine": "zsum", "fraction": 0.5})
    np.testing.assert_allclose(got["score"], z, rtol=1e-5)
    top3 = set(np.argsort(-z)[:3].tolist())
    assert set(np.flatnonzero(got["keep"]).tolist()) == top3
    assert zscore(np.ones(4)).tolist() == [0, 0, 0, 0]


def test_cross_filter_config_errors():
    cfg = {"pool": {"source": "world"}, "models": {}, "scores": {
        "a": {"method": "clip_threshold", "input": "b", "params": {"fraction": 0.5}},
        "b": {"method": "truth_clean"},
    }}
    def bad(params, inputs=("a", "b")):
        with pytest.raises(PlanError) as e:
            check_scores({**cfg, "scores": {**cfg["scores"], "x": {"method": "cross_filter", "inputs": list(inputs), "params": params}}})
        return str(e.value)
    assert "params.combine: expected one of ['and', 'or', 'zsum']" in bad({"combine": "xor", "thresholds": [1, 1]})
    assert "input 1 needs exactly one of thresholds[1] and fractions[1]" in bad({"thresholds": [0.19, None]})
    assert "one value (or null) per input (2)" in bad({"thresholds": [0.19]})
    assert "params.fraction: combine zsum keeps the top fraction" in bad({"combine": "zsum"})
    assert "expected two or more scores" in bad({"thresholds": [1]}, inputs=("a",))
    assert cut_list({"thresholds": [0.19, None], "fractions": [None, 0.3]}, 2) == [(0.19, None), (None, 0.3)]


def run_compose(cols, **params):
    p = {**get("compose_counts").defaults, **params}
    return get("compose_counts").func(p, cols=cols)["count"]


def test_compose_counts_by_hand():
    cids = np.array([2, 1, 0, 1, 3, 1], np.float32)       # CIDS draws
    qdup = np.array([2, 1, 2, 1, 1, 2], np.float32)       # quality duplication (1, 2)
    keep = np.array([True, True, True, False, True, True])
    sem = np.array([True, False, True, True, True, True])
    digits = np.array([False, False, True, True, False, True])
    base = {"cids:count": cids, "devil_itm:keep": keep}
    assert run_compose(base).tolist() == [2, 1, 0, 0, 3, 1]
    two = {**base, "quality_dup_12:count": qdup}
    assert run_compose(two).tolist() == [4, 1, 0, 0, 3, 2]
    three = {**two, "semdedup:keep": sem}
    assert run_compose(three).tolist() == [4, 0, 0, 0, 3, 2]
    four = {**three, "digits:keep": digits}
    # digits adds back the removed digit samples (rows 2 and 3) once; row 5 (kept) is unchanged
    assert run_compose(four, add_back="digits:keep").tolist() == [4, 0, 1, 1, 3, 2]
    # or up-weights the kept ones (row 5: 2 -> 6) and leaves the removed ones out
    assert run_compose(four, upweight="digits:keep", upweight_factor=3).tolist() == [4, 0, 0, 0, 3, 6]
    # keeps only: 1 per row every filter keeps
    assert run_compose({"a:keep": keep, "b:keep": sem}).tolist() == [1, 0, 1, 0, 1, 1]
    assert run_compose(base).dtype == np.uint32
    with pytest.raises(ValueError, match=r"'x:count' holds negative or non-integer counts"):
        run_compose({"x:count": np.array([1.5, 1.0])})


def test_compose_counts_config_errors():
    cfg = {"pool": {"source": "world"}, "models": {}, "scores": {"b": {"method": "truth_clean"}}}
    def bad(entry):
        with pytest.raises(PlanError) as e:
            check_scores({**cfg, "scores": {**cfg["scores"], "x": {"method": "compose_counts", **entry}}})
        return str(e.value)
    assert "expected score columns written 'name:count' or 'name:keep'" in bad({"inputs": ["b"]})
    assert "must also be listed in scores.x.inputs" in bad({"inputs": ["b:keep"], "params": {"add_back": "c:keep"}})
    assert "params.upweight_factor: expected an integer >= 1" in bad({"inputs": ["b:keep"], "params": {"upweight_factor": 0}})


def test_itm_score_reads_the_heads_embedding_model():
    from clipcurate.config.check import prepare
    from tests.unit.test_devil_config import REPO, shipped_config

    config = shipped_config()
    config["scores"]["itm"]["model"] = "dfn"
    with pytest.raises(ValueError, match=r"scores\.itm\.model \('dfn'\) must be the ITM head's embedding model itm\.hq_itm\.model \('openai'\)"):
        prepare(config, REPO)
    config = shipped_config()
    config["scores"]["itm"]["itm"] = "nope"
    with pytest.raises(ValueError, match=r"scores\.itm\.itm: unknown ITM head 'nope'"):
        prepare(config, REPO)
