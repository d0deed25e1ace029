"""Tests for the samplers of clipcurate.sample against independent references.

The fast samplers are checked in distribution against direct transcriptions of the paper's algorithms
(tests/unit/sampling_reference.py: ``scs_reference``, a softmax and ``rng.choice(replace=False)`` every
round; ``hcs_reference``, the batched rejection sampler) and against numpy's own multinomial /
without-replacement samplers, with fixed seeds and conservative thresholds (per-item z-tests at |z| < 4.5, chi-square p > 1e-4). Each
statistical comparison is paired with a check that the same test rejects a wrong model, so the tests
can fail. The two fast paths are also compared draw for draw (G = 1 through the rounds code).
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

import numpy as np
import pytest
from scipy import stats

from clipcurate.sample import counts as C
from clipcurate.sample import dispatch, histogram, race
from clipcurate.sample import hcs as H
from clipcurate.sample import scs as SCS
from clipcurate.sample import threshold as T
from clipcurate.sample import topk
from clipcurate.sample import validate as V
from clipcurate.sample.validate import SamplingError
from tests.unit import sampling_reference as R

Z_MAX = 4.5
P_MIN = 1e-4


def _runs(fn, reps, seed0=0):
    return np.array([fn(seed0 + r) for r in range(reps)])


def _z(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-item two-sample z statistics of mean counts (runs x items arrays)."""
    se = np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
    diff = a.mean(0) - b.mean(0)
    return np.where(se > 0, diff / np.where(se > 0, se, 1), np.where(diff == 0, 0.0, np.inf))


def _chi2_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample chi-square p-value on the distribution of an integer statistic."""
    vals = np.union1d(x, y)
    table = np.array([[np.sum(x == v) for v in vals], [np.sum(y == v) for v in vals]])
    table = table[:, table.sum(0) >= 5] if (table.sum(0) >= 5).sum() >= 2 else table
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table)[1])


def _softmax(s):
    e = np.exp(s - s.max())
    return e / e.sum()


# ------------------------------------------------------------------------------------------------
# SCS against Algorithm 2
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_scores():
    return np.random.default_rng(5).normal(size=10)


def test_scs_rounds_matches_algorithm2_in_distribution(small_scores):
    s, N, G, alpha, reps = small_scores, 30, 3, 0.5, 3000
    fast = _runs(lambda r: SCS.scs(s, N, alpha, G, r), reps)
    ref = _runs(lambda r: R.scs_reference(s, N, alpha, G, r), reps, seed0=10**6)
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    top = int(np.argmax(s))
    assert _chi2_p(fast[:, top], ref[:, top]) > P_MIN
    assert _chi2_p(fast[:, 0], ref[:, 0]) > P_MIN
    # the same comparison rejects a different algorithm (one draw per round instead of three; the fast
    # G = 1 path is itself checked against the reference below)
    other = _runs(lambda r: SCS.scs(s, N, alpha, 1, r), reps, seed0=2 * 10**6)
    assert np.abs(_z(fast, other)).max() > Z_MAX + 1


def test_scs_rounds_with_many_windows_matches_algorithm2():
    # 200 examples, 20 rounds of 20, and a window of 37 clocks: many windows, buckets and re-arms
    s = np.random.default_rng(21).normal(size=200) * 1.5
    N, G, alpha, reps = 400, 20, 0.3, 1000
    fast = _runs(lambda r: SCS.scs_rounds(s, N, alpha, G, r, window=37), reps)
    assert (fast.sum(1) == N).all() and fast.max() <= N // G
    ref = _runs(lambda r: R.scs_reference(s, N, alpha, G, r), reps, seed0=10**6)
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    other = _runs(lambda r: SCS.scs(s, N, alpha, 1, r), reps, seed0=2 * 10**6)  # G = 1 (checked below)
    assert np.abs(_z(fast, other)).max() > Z_MAX + 1


@pytest.mark.parametrize("block_min", [race._LEVEL_BLOCK_MIN, 0], ids=["level-blocks", "one-level-at-a-time"])
def test_scs_exact_g1_matches_algorithm2_in_distribution(monkeypatch, block_min):
    monkeypatch.setattr(race, "_LEVEL_BLOCK_MIN", block_min)  # both ways of generating levels
    s = np.random.default_rng(6).normal(size=12) * 1.5
    N, alpha, reps = 30, 0.3, 3000
    fast = _runs(lambda r: SCS.scs(s, N, alpha, 1, r), reps)
    ref = _runs(lambda r: R.scs_reference(s, N, alpha, 1, r), reps, seed0=10**6)
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    top = int(np.argmax(s))
    assert _chi2_p(fast[:, top], ref[:, top]) > P_MIN
    wrong = _runs(lambda r: SCS.scs(s, N, 2 * alpha, 1, r), reps, seed0=2 * 10**6)
    assert np.abs(_z(fast, wrong)).max() > Z_MAX + 1


def test_g1_rounds_path_equals_exact_path_draw_for_draw(monkeypatch):
    # Small _BASE forces the recursive horizon estimate; the rounds code with G = 1 is the one-at-a-time
    # definition driven by the same clocks, so the counts must be identical.
    monkeypatch.setattr(race, "_BASE", 200)
    monkeypatch.setattr(race, "_SUB_STRIDE", 4)
    s = np.random.default_rng(7).normal(size=2500).astype(np.float32)
    exact = SCS.scs(s, 3000, 0.2, 1, 11)
    rounds = SCS.scs_rounds(s, 3000, 0.2, 1, 11)
    assert rounds.sum() == 3000
    np.testing.assert_array_equal(exact, rounds)


def test_result_does_not_depend_on_work_layout(monkeypatch):
    s = np.random.default_rng(8).normal(size=3000)
    base = SCS.scs(s, 4000, 0.15, 1, 3)
    base_rounds = SCS.scs(s, 4000, 0.15, 25, 3)
    base_hcs = H.hcs(s, 4000, 3, 3)
    monkeypatch.setattr(race, "_BASE", 64)
    monkeypatch.setattr(race, "_SUB_STRIDE", 3)
    np.testing.assert_array_equal(SCS.scs(s, 4000, 0.15, 1, 3), base)
    np.testing.assert_array_equal(H.hcs(s, 4000, 3, 3, batch_size=77), base_hcs)
    # many small windows and tiny buckets in the rounds path
    np.testing.assert_array_equal(SCS.scs_rounds(s, 4000, 0.15, 25, 3, window=101), base_rounds)


def test_max_multiplicity_is_ceil_n_over_g():
    s = np.array([12.0] + [0.0] * 9)  # one example takes almost all the mass
    counts = SCS.scs(s, 20, 0.0, 4, 1)
    assert counts[0] == 5 == math.ceil(20 / 4)
    assert counts.sum() == 20
    big = np.random.default_rng(9).normal(size=5000) * 3
    c = SCS.scs(big, 20000, 0.05, 700, 2)
    assert c.sum() == 20000 and c.max() <= math.ceil(20000 / 700)


# ------------------------------------------------------------------------------------------------
# limits of alpha
# ------------------------------------------------------------------------------------------------


def test_alpha_inf_is_sampling_without_replacement():
    s = np.random.default_rng(10).normal(size=8) * 1.2
    N, reps = 5, 4000
    fast = _runs(lambda r: SCS.scs(s, N, np.inf, 2, r), reps)
    assert fast.max() == 1 and (fast.sum(1) == N).all()
    ref_rng = np.random.default_rng(123)
    ref = np.zeros((reps, s.size), dtype=int)
    for r in range(reps):
        ref[r, ref_rng.choice(s.size, N, replace=False, p=_softmax(s))] = 1
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    # with replacement would be visibly different
    wr = np.random.default_rng(5).multinomial(N, _softmax(s), size=reps)
    assert np.abs(_z(fast, wr)).max() > Z_MAX + 1
    # alpha = inf does not depend on G and is HCS with beta = 1, draw for draw
    for G in (1, 3, 100):
        np.testing.assert_array_equal(SCS.scs(s, N, np.inf, G, 17), H.hcs(s, N, 1, 17))
    np.testing.assert_array_equal(R.scs_reference(s, N, np.inf, 2, 3).clip(0, 1), R.scs_reference(s, N, np.inf, 2, 3))


def test_alpha_zero_is_sampling_with_replacement():
    s = np.random.default_rng(11).normal(size=9)
    N, reps = 40, 3000
    p = _softmax(s)
    fast = _runs(lambda r: SCS.scs(s, N, 0.0, 1, r), reps)
    z = (fast.mean(0) - N * p) / np.sqrt(N * p * (1 - p) / reps)
    assert np.abs(z).max() < Z_MAX
    np.testing.assert_array_equal(SCS.scs(s, N, 0.0, 1, 4), H.nocap(s, N, 4))


# ------------------------------------------------------------------------------------------------
# HCS and no-cap
# ------------------------------------------------------------------------------------------------


def test_hcs_matches_batched_reference_and_respects_cap():
    s = np.random.default_rng(12).normal(size=10) * 1.5
    N, beta, reps = 25, 3, 3000
    fast = _runs(lambda r: H.hcs(s, N, beta, r), reps)
    assert fast.max() <= beta and (fast.sum(1) == N).all()
    ref = _runs(lambda r: R.hcs_reference(s, N, beta, r, batch_size=16), reps, seed0=10**6)
    assert ref.max() <= beta
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    top = int(np.argmax(s))
    assert _chi2_p(fast[:, top], ref[:, top]) > P_MIN
    nocap = np.random.default_rng(3).multinomial(N, _softmax(s), size=reps)
    assert np.abs(_z(fast, nocap)).max() > Z_MAX + 1


def test_hcs_with_loose_cap_is_nocap():
    s = np.random.default_rng(13).normal(size=7)
    N, reps = 20, 3000
    fast = _runs(lambda r: H.hcs(s, N, N, r), reps)
    ref = np.random.default_rng(99).multinomial(N, _softmax(s), size=reps)
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    top = int(np.argmax(s))
    assert _chi2_p(fast[:, top], ref[:, top]) > P_MIN


def test_nocap_is_multinomial():
    s = np.random.default_rng(14).normal(size=6) * 2
    N, reps = 50, 3000
    fast = _runs(lambda r: H.nocap(s, N, r), reps)
    ref = np.random.default_rng(98).multinomial(N, _softmax(s), size=reps)
    assert np.abs(_z(fast, ref)).max() < Z_MAX
    top = int(np.argmax(s))
    assert _chi2_p(fast[:, top], ref[:, top]) > P_MIN
    flat = np.random.default_rng(97).multinomial(N, np.full(s.size, 1 / s.size), size=reps)
    assert np.abs(_z(fast, flat)).max() > Z_MAX + 1


# ------------------------------------------------------------------------------------------------
# invariants
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda s, N, r: SCS.scs(s, N, 0.15, 1, r),
        lambda s, N, r: SCS.scs(s, N, 0.15, 37, r),
        lambda s, N, r: SCS.scs(s, N, np.inf, 37, r),
        lambda s, N, r: H.hcs(s, N, 2, r),
        lambda s, N, r: H.nocap(s, N, r),
    ],
    ids=["scs-g1", "scs-g37", "scs-inf", "hcs", "nocap"],
)
def test_sum_dtype_and_determinism(fn):
    s = np.random.default_rng(15).normal(size=1500).astype(np.float32)
    for N in (1, 999, 1500):
        c = fn(s, N, 5)
        assert c.dtype == np.int32 and c.shape == s.shape
        assert int(c.sum()) == N and c.min() >= 0
    np.testing.assert_array_equal(fn(s, 1200, 5), fn(s, 1200, 5))
    assert not np.array_equal(fn(s, 1200, 5), fn(s, 1200, 6))


def test_extreme_scores_never_fire_and_no_nans():
    s = np.array([0.0, -2000.0, -1.0, -3000.0])  # exp underflows for two of them
    assert SCS.scs(s, 2, np.inf, 1, 0)[[1, 3]].sum() == 0
    c = SCS.scs(s, 50, 0.1, 2, 0)
    assert c.sum() == 50 and c[[1, 3]].sum() == 0
    np.testing.assert_array_equal(c, [25, 0, 25, 0])  # both drawn every round
    with pytest.raises(SamplingError, match="n_target"):
        H.hcs(s, 6, 2, 0)  # only two examples can ever be drawn
    with pytest.raises(SamplingError, match="n_target"):
        SCS.scs(s, 6, 0.1, 3, 0)  # a round of three distinct draws needs a third drawable example


# ------------------------------------------------------------------------------------------------
# threshold
# ------------------------------------------------------------------------------------------------


def test_threshold_hand_cases():
    s = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    np.testing.assert_array_equal(T.threshold_top_fraction(s, 0.6), [1, 0, 1, 0, 1])  # tie: lower index
    np.testing.assert_array_equal(T.threshold_top_fraction(s, 0.8), [1, 0, 1, 1, 1])
    np.testing.assert_array_equal(T.threshold_top_fraction(s, 1.0), [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(T.threshold_top_fraction(s, 0.1), [0, 0, 0, 0, 0])  # floor(0.5) = 0
    np.testing.assert_array_equal(T.threshold_top_k(np.zeros(6), 4), [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(T.threshold_top_k(s, 0), [0, 0, 0, 0, 0])
    assert T.threshold_top_fraction(np.arange(100.0), 0.29).sum() == 29  # not 28 (0.29 * 100 < 29)
    c = T.threshold_top_fraction(np.arange(100.0)[::-1], 0.2)
    np.testing.assert_array_equal(np.flatnonzero(c), np.arange(20))
    assert c.dtype == np.int32


def test_top_count_is_the_floor_of_the_exact_product():
    # independent reference: exact decimal / rational arithmetic on the fraction as written
    # (the documented guarantee: decimal digits + digits of the pool size <= 15; pools of 10**k rows beyond)
    rng = np.random.default_rng(30)
    for _ in range(3000):
        digits = int(rng.integers(1, 13))
        text = "0." + "".join(str(d) for d in rng.integers(0, 10, size=digits))
        if Decimal(text) == 0:
            continue
        m = int(rng.integers(0, 10 ** (15 - digits))) if rng.random() < 0.5 else int(10 ** rng.integers(0, 9))
        assert topk.top_count(float(text), m) == int((Decimal(text) * m).to_integral_value(rounding=ROUND_FLOOR)), (text, m)
    for d in range(1, 60):
        for k in range(1, d + 1):
            for m in (d, 7 * d, 1000, 10**6 + 3):
                assert topk.top_count(k / d, m) == (k * m) // d, (k, d, m)
    # the case: a real fraction just below 0.3, and the binary products that fall short
    assert topk.top_count(0.299999999997, 10**6) == 299_999
    assert topk.top_count(0.3, 10**6) == 300_000
    assert 0.29 * 100 < 29 and topk.top_count(0.29, 100) == 29
    assert topk.top_count(1 / 3, 6) == 2 and topk.top_count(0.001, 100) == 0 and topk.top_count(1.0, 0) == 0


def test_top_mask_matches_a_stable_sort():
    # independent reference: a stable sort by descending value keeps ties in index order
    rng = np.random.default_rng(31)
    for _ in range(200):
        m = int(rng.integers(1, 300))
        x = rng.integers(0, 5, size=m).astype(np.float32)  # many ties
        n = int(rng.integers(0, m + 2))
        ref_mask = np.zeros(m, dtype=bool)
        ref_mask[np.argsort(-x, kind="stable")[:n]] = True
        np.testing.assert_array_equal(topk.top_mask(x, n), ref_mask)


def test_top_fraction_with_ties_hand_computed_and_against_datacomp():
    # 6 rows, f = 0.5: n = 3. Sorted descending: 0.9 (rows 1, 3), 0.7 (rows 2, 4), 0.5, 0.1. The two
    # 0.9s are kept; of the tie at 0.7 only the lower index, row 2.
    s = np.array([0.5, 0.9, 0.7, 0.9, 0.7, 0.1])
    np.testing.assert_array_equal(T.threshold_top_fraction(s, 0.5), [0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(topk.top_fraction_mask(s, 0.5), [False, True, True, True, False, False])
    # DataComp's get_threshold takes the value at index int(6 * 0.5) = 3 of the descending sort (0.7)
    # and keeps every score >= it: 4 rows, one more than n plus the tie (documented in topk)
    datacomp_threshold = -np.sort(-s)[int(len(s) * 0.5)]
    assert datacomp_threshold == 0.7 and int((s >= datacomp_threshold).sum()) == 4


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------

GOOD = np.array([0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: SCS.scs(GOOD, 3, -0.1, 1, 0), "alpha"),
        (lambda: SCS.scs(GOOD, 3, float("nan"), 1, 0), "alpha"),
        (lambda: SCS.scs(GOOD, 3, 0.1, 0, 0), "group_size"),
        (lambda: SCS.scs(GOOD, 3, 0.1, 1.5, 0), "group_size"),
        (lambda: SCS.scs(GOOD, 0, 0.1, 1, 0), "n_target"),
        (lambda: SCS.scs(GOOD, -5, 0.1, 1, 0), "n_target"),
        (lambda: SCS.scs(GOOD, 5, np.inf, 1, 0), "n_target"),
        (lambda: SCS.scs(GOOD, 10, 0.1, 5, 0), "group_size"),
        (lambda: SCS.scs(GOOD, 3, 0.1, 1, -1), "seed"),
        (lambda: H.hcs(GOOD, 3, 0, 0), "beta"),
        (lambda: H.hcs(GOOD, 3, 2.5, 0), "beta"),
        (lambda: H.hcs(GOOD, 9, 2, 0), "beta"),
        (lambda: H.nocap(GOOD, 0, 0), "n_target"),
        (lambda: T.threshold_top_fraction(GOOD, 0.0), "fraction"),
        (lambda: T.threshold_top_fraction(GOOD, 1.5), "fraction"),
        (lambda: T.threshold_top_k(GOOD, 5), "k"),
        (lambda: H.nocap(np.array([]), 1, 0), "scores"),
        (lambda: H.nocap(np.zeros((2, 2)), 1, 0), "scores"),
        (lambda: dispatch.draw("topk", GOOD, 2, {}, 0), "method"),
        (lambda: dispatch.draw("scs", GOOD, 2, {}, 0), "alpha"),
        (lambda: dispatch.draw("hcs", GOOD, 2, {"beta": 2, "alpha": 1}, 0), r"sample\.alpha: sampler 'hcs' does not take"),
    ],
)
def test_validation_names_the_parameter(call, name):
    with pytest.raises(SamplingError, match=name):
        call()


@pytest.mark.parametrize(
    "method, n, params, message",
    [
        ("scs", 3, {"alpha": -1}, "sample.alpha: must be >= 0, got -1"),
        ("scs", 3, {"alpha": float("nan")}, "sample.alpha: must be >= 0, got nan"),
        ("scs", 3, {"alpha": "0.1"}, "sample.alpha: must be >= 0, got '0.1'"),
        ("scs", 3, {"alpha": 0.1, "group_size": 0}, "sample.group_size: must be an integer >= 1, got 0"),
        ("hcs", 3, {"beta": 0}, "sample.beta: must be an integer >= 1, got 0"),
        ("hcs", 3, {"beta": 0.5}, "sample.beta: must be an integer >= 1, got 0.5"),
        ("hcs", 3, {"beta": np.int64(-2)}, "sample.beta: must be an integer >= 1, got -2"),
        ("scs", 0, {"alpha": 0.1}, "sample.n: must be an integer >= 1, got 0"),
        ("nocap", -4, {}, "sample.n: must be an integer >= 1, got -4"),
        ("hcs", 0, {"beta": 2}, "sample.n: must be an integer >= 1, got 0"),
        ("threshold", 3, {"fraction": 0}, "sample.fraction: must be in (0, 1], got 0"),
        ("threshold", 3, {"fraction": 1.01}, "sample.fraction: must be in (0, 1], got 1.01"),
        ("threshold", 3, {"fraction": -0.2}, "sample.fraction: must be in (0, 1], got -0.2"),
        ("threshold", 3, {}, "sample.fraction: sampler 'threshold' needs parameter 'fraction'"),
    ],
)
def test_sample_errors_name_the_recipe_key(method, n, params, message):
    with pytest.raises(SamplingError) as err:
        dispatch.draw(method, GOOD, n, params, 0)
    assert str(err.value) == message
    with pytest.raises(SamplingError) as err:
        dispatch.draw(method, GOOD, n, params, 0, where="recipes.sweep.sample")
    assert str(err.value) == "recipes." + message.replace("sample.", "sweep.sample.", 1)


def test_sample_prefixes_score_dependent_errors_with_the_key():
    with pytest.raises(SamplingError, match=r"^recipes\.x\.sample: beta: beta \* len\(scores\)"):
        dispatch.draw("hcs", GOOD, 9, {"beta": 2}, 0, where="recipes.x.sample")
    with pytest.raises(SamplingError, match=r"^sample: scores: expected finite values.*index 1"):
        dispatch.draw("nocap", np.array([0.0, np.nan]), 1, {}, 0)


def test_check_param_bounds_and_normalisation():
    assert V.check_param("alpha", 0) == 0.0 and V.check_param("alpha", np.inf) == np.inf
    assert V.check_param("fraction", 1) == 1.0
    assert V.check_param("beta", 5.0) == 5 and isinstance(V.check_param("beta", np.int32(5)), int)
    with pytest.raises(SamplingError, match=r"^sample\.beta: must be an integer >= 1, got True$"):
        V.check_param("beta", True)
    with pytest.raises(SamplingError, match=r"^sample\.temperature: unknown sampler parameter"):
        V.check_param("temperature", 1.0)
    assert V.check_params("scs", {"alpha": 1, "group_size": None}) == {"alpha": 1.0, "group_size": None}


def test_non_finite_scores_name_the_first_bad_index():
    s = np.array([0.0, 1.0, 2.0, np.nan, np.inf])
    for call in (lambda: SCS.scs(s, 2, 0.1, 1, 0), lambda: T.threshold_top_fraction(s, 0.5), lambda: H.nocap(s, 2, 0)):
        with pytest.raises(SamplingError, match=r"scores.*index 3"):
            call()
    with pytest.raises(SamplingError, match=r"index 1"):
        H.hcs(np.array([0.0, -np.inf]), 1, 1, 0)


def test_unknown_method_lists_known_ones():
    with pytest.raises(SamplingError) as err:
        dispatch.draw("softcap", GOOD, 2, {}, 0)
    for known in ("hcs", "nocap", "scs", "threshold"):
        assert known in str(err.value)
    assert issubclass(SamplingError, ValueError)


# ------------------------------------------------------------------------------------------------
# dispatcher and report
# ------------------------------------------------------------------------------------------------


def test_sample_dispatches():
    s = np.random.default_rng(16).normal(size=3000)
    np.testing.assert_array_equal(dispatch.draw("threshold", s, 123, {"fraction": 0.1}, 0), T.threshold_top_fraction(s, 0.1))
    np.testing.assert_array_equal(
        dispatch.draw("scs", s, 2560, {"alpha": 0.2}, 4), SCS.scs(s, 2560, 0.2, 2, 4)  # default G = ceil(N/1280)
    )
    np.testing.assert_array_equal(dispatch.draw("scs", s, 900, {"alpha": 0.2, "group_size": 30}, 4), SCS.scs(s, 900, 0.2, 30, 4))
    np.testing.assert_array_equal(dispatch.draw("hcs", s, 900, {"beta": 2}, 4), H.hcs(s, 900, 2, 4))
    np.testing.assert_array_equal(dispatch.draw("nocap", s, 900, None, 4), H.nocap(s, 900, 4))
    assert SCS.default_group_size(128_000_000) == 100_000 and SCS.default_group_size(5) == 1


def test_repetition_histogram(tmp_path, drawn):
    counts = np.array([0, 1, 3, 1, 0, 2], dtype=np.int32)
    out = tmp_path / "fig" / "hist.png"
    stats_ = histogram.repetition_histogram(counts, out, "toy")
    assert stats_ == {"n_unique": 4, "max_count": 3, "mean_count": 7 / 4, "n_total": 7, "histogram": {1: 2, 2: 1, 3: 1}}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = drawn[0][0].axes  # what is drawn: 2 examples once, 1 twice, 1 three times
    assert sorted((p.get_x() + p.get_width() / 2, p.get_height()) for p in ax.patches) == [(1, 2), (2, 1), (3, 1)]
    assert ax.get_title() == "toy" and ax.texts[0].get_text() == "unique 4\ntotal 7\nmax 3"
    assert histogram.repetition_histogram(np.zeros(3, dtype=np.int32), tmp_path / "e.png")["n_unique"] == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["hist.png"]  # no temporary file left behind


def test_repetition_stats_hand_computed():
    # 9 examples: 3 unused, two seen once, one twice, none 3-4 times, two 5 times, one 7 times
    counts = np.array([5, 0, 1, 7, 0, 2, 1, 5, 0], dtype=np.int64)
    st = C.repetition_stats(counts)
    assert st["histogram"] == {1: 2, 2: 1, 5: 2, 7: 1}  # sparse: 3, 4 and 6 do not occur
    assert list(st["histogram"]) == [1, 2, 5, 7]
    assert (st["n_unique"], st["n_total"], st["max_count"]) == (6, 21, 7)
    assert st["mean_count"] == pytest.approx(21 / 6)
    assert sum(st["histogram"].values()) == st["n_unique"]
    assert sum(r * n for r, n in st["histogram"].items()) == st["n_total"]
    assert C.repetition_stats(np.zeros(4, dtype=np.int32)) == {
        "n_unique": 0, "n_total": 0, "max_count": 0, "mean_count": 0.0, "histogram": {}
    }
    for bad in (np.array([1.0, 2.0]), np.array([1, -1]), np.zeros((2, 2), dtype=int)):
        with pytest.raises(SamplingError, match="counts"):
            C.repetition_stats(bad)


def test_repetition_histogram_failure_keeps_the_previous_png(tmp_path, monkeypatch):
    out = tmp_path / "hist.png"
    histogram.repetition_histogram(np.array([1, 2, 2]), out)
    before = out.read_bytes()
    from matplotlib.figure import Figure

    def boom(self, *a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        histogram.repetition_histogram(np.array([3, 3, 3]), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["hist.png"]
