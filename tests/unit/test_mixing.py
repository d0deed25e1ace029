"""Unit tests for clipcurate.mix.aggregate: expected values are computed by hand in the comments."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.core import fileio, poolindex, scorefiles, uidcodec
from clipcurate.mix import aggregate as mixing
from clipcurate.mix.aggregate import MixingError
from clipcurate.mix.files import mix_files
from clipcurate.sample import topk
from clipcurate.sample.threshold import threshold_top_fraction

SQRT5 = math.sqrt(5.0)

# The 2 x 4 example used throughout:
#   a = [1, 2, 3, 4]:   mean 2.5, var (2.25 + .25 + .25 + 2.25) / 4 = 1.25, std sqrt(5)/2
#                       z_a = (x - 2.5) / (sqrt(5)/2) = [-3, -1, 1, 3] / sqrt(5)
#   b = [10, 0, 0, 10]: mean 5, var 25, std 5, z_b = [1, -1, -1, 1]
A = np.array([1, 2, 3, 4], dtype=np.float32)
B = np.array([10, 0, 0, 10], dtype=np.float32)


@pytest.fixture(params=[mixing.CHUNK_ROWS, 3], ids=["one-chunk", "chunks-of-3"])
def chunked(request, monkeypatch):
    """Run a test both with the default chunk size and with tiny chunks (several chunks, a short last one)."""
    monkeypatch.setattr(mixing, "CHUNK_ROWS", request.param)
    monkeypatch.setattr(topk, "CHUNK_ROWS", request.param)  # the tie scan of the one top-k
    return request.param


# --------------------------------------------------------------------------------------------
# standardize


def test_standardize_hand_values(chunked):
    z, mean, std = mixing.standardize(A, name="a")
    assert mean == pytest.approx(2.5, abs=1e-12)
    assert std == pytest.approx(SQRT5 / 2, abs=1e-12)  # population std (ddof=0), not sqrt(5/3)
    np.testing.assert_allclose(z, [-1.3416408, -0.4472136, 0.4472136, 1.3416408], rtol=1e-6)
    assert z.dtype == np.float32
    np.testing.assert_array_equal(A, [1, 2, 3, 4])  # input untouched


def test_standardize_matches_numpy_ddof0(chunked):
    x = np.random.default_rng(0).normal(0.3, 0.05, size=1001).astype(np.float32)
    z, mean, std = mixing.standardize(x)
    x64 = x.astype(np.float64)
    assert mean == pytest.approx(x64.mean(), rel=1e-12)
    assert std == pytest.approx(x64.std(ddof=0), rel=1e-9)
    np.testing.assert_allclose(z, (x64 - x64.mean()) / x64.std(), rtol=1e-5, atol=1e-6)


def test_standardize_large_offset_is_accurate(chunked):
    # mean >> std: the naive E[x^2] - E[x]^2 in float32 would return garbage here
    x = (1000.0 + np.array([-1, 1] * 50, dtype=np.float64) * 1e-2).astype(np.float32)
    _, mean, std = mixing.standardize(x)
    x64 = x.astype(np.float64)
    assert std == pytest.approx(x64.std(), rel=1e-9)
    assert mean == pytest.approx(x64.mean(), rel=1e-14)


def test_standardize_in_place():
    x = A.copy()
    z, _, _ = mixing.standardize(x, out=x)
    assert z is x
    np.testing.assert_allclose(x, np.array([-3, -1, 1, 3]) / SQRT5, rtol=1e-6)


def test_standardize_constant_column_names_it(chunked):
    with pytest.raises(MixingError, match="'flat'.*constant"):
        mixing.standardize(np.full(7, 0.1, dtype=np.float32), name="flat")
    with pytest.raises(MixingError, match="'flat'"):
        mixing.mix("standardized_sum", {"a": A, "flat": np.full(4, 2.0, dtype=np.float32)})


def test_standardize_non_finite():
    with pytest.raises(MixingError, match="'x'.*non-finite"):
        mixing.standardize(np.array([1, np.nan, 3], dtype=np.float32), name="x")


# --------------------------------------------------------------------------------------------
# weights and linear mixes


def test_imagenet_weights_hand_example():
    # IN = [.2, .3, .4]: w_hat = [0, .5, 1]; 1/(r-1) = 1/7
    w = mixing.imagenet_weights([0.2, 0.3, 0.4], r=8)
    np.testing.assert_allclose(w, [1 / 7, 0.5 + 1 / 7, 1 + 1 / 7], rtol=1e-12)
    assert w.max() / w.min() == pytest.approx(8.0, rel=1e-12)


@pytest.mark.parametrize("r", [2, 4, 8, 16])
def test_imagenet_weights_ratio_is_r(r):
    w = mixing.imagenet_weights([0.282, 0.267, 0.297, 0.342, 0.309], r)
    assert w.max() / w.min() == pytest.approx(r, rel=1e-12)


@pytest.mark.parametrize(
    "acc, r, match",
    [([0.2, 0.3], 1, "r"), ([0.2, 0.3], 0.5, "r"), ([0.3, 0.3], 4, "2 distinct"), ([], 4, "empty")],
)
def test_imagenet_weights_errors(acc, r, match):
    with pytest.raises(MixingError, match=match):
        mixing.imagenet_weights(acc, r)


def test_sum(chunked):
    out = mixing.mix("sum", {"a": A, "b": B})["score"]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [11, 2, 3, 14])


def test_standardized_sum_hand_values(chunked):
    # z_a + z_b = [-3/sqrt5 + 1, -1/sqrt5 - 1, 1/sqrt5 - 1, 3/sqrt5 + 1]
    expected = [-0.3416408, -1.4472136, -0.5527864, 2.3416408]
    out = mixing.mix("standardized_sum", {"a": A, "b": B})["score"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_weighted_standardized_sum_hand_values(chunked):
    # 2 z_a - z_b = [-6/sqrt5 - 1, -2/sqrt5 + 1, 2/sqrt5 + 1, 6/sqrt5 - 1]
    out = mixing.mix("weighted_sum", {"a": A, "b": B}, {"weights": {"a": 2.0, "b": -1.0}})["score"]
    np.testing.assert_allclose(out, [-3.6832816, 0.1055728, 1.8944272, 1.6832816], rtol=1e-6)


def test_in_weighted_hand_values(chunked):
    # IN: a 0.3, b 0.5, r = 4 -> w_hat = [0, 1], w = [1/3, 4/3]
    # score = z_a / 3 + 4 z_b / 3 = [-1/sqrt5 + 4/3, -1/(3 sqrt5) - 4/3, 1/(3 sqrt5) - 4/3, 1/sqrt5 + 4/3]
    expected = [0.8861198, -1.4824045, -1.1842621, 1.7805469]
    res = mixing.mix_details("in_weighted", {"a": A, "b": B}, {"in_accuracy": {"b": 0.5, "a": 0.3}, "r": 4})
    np.testing.assert_allclose(res.columns["score"], expected, rtol=1e-6)
    assert res.weights == pytest.approx({"a": 1 / 3, "b": 4 / 3})
    assert res.means == pytest.approx({"a": 2.5, "b": 5.0})
    assert res.stds == pytest.approx({"a": SQRT5 / 2, "b": 5.0})


def test_weighted_sum_unstandardized_and_inputs_untouched():
    a, b = A.copy(), B.copy()
    out = mixing.mix("weighted_sum", {"a": a, "b": b}, {"weights": {"a": 2, "b": -1}, "standardize": False})
    np.testing.assert_array_equal(out["score"], [-8, 4, 6, -2])  # 2a - b
    np.testing.assert_array_equal(a, A)
    np.testing.assert_array_equal(b, B)
    # standardize defaults to true
    out = mixing.mix("weighted_sum", {"a": a, "b": b}, {"weights": {"a": 2, "b": -1}})
    np.testing.assert_allclose(out["score"], [-3.6832816, 0.1055728, 1.8944272, 1.6832816], rtol=1e-6)


def test_linear_mix_is_float32_and_exact_order_on_larger_pool(chunked):
    rng = np.random.default_rng(1)
    cols = [rng.normal(m, s, 500).astype(np.float32) for m, s in [(0.3, 0.05), (-2, 3), (100, 0.1)]]
    w = [0.5, 1.0, 2.0]
    ref = sum(wi * (c.astype(np.float64) - c.astype(np.float64).mean()) / c.astype(np.float64).std() for wi, c in zip(w, cols))
    out = mixing.mix("weighted_sum", dict(zip("abc", cols)), {"weights": dict(zip("abc", w))})["score"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------
# sets

# M = 6. Top 1/2 of a (n = 3): 5 (row 0), then the tie at 3 goes to rows 1, 2 (lower index), not 5.
# Top 1/3 of b (n = 2): 9 (row 5), then the tie at 2 goes to row 2, not rows 3, 4.
SA = np.array([5, 3, 3, 1, 0, 3], dtype=np.float32)
SB = np.array([0, 1, 2, 2, 2, 9], dtype=np.float32)
TOP_A = [True, True, True, False, False, False]
TOP_B = [False, False, True, False, False, True]


def test_top_mask_ties_to_lower_index(chunked):
    np.testing.assert_array_equal(mixing.top_mask(SA, 0.5), TOP_A)
    np.testing.assert_array_equal(mixing.top_mask(SB, 1 / 3), TOP_B)


def test_top_mask_counts():
    x = np.arange(100, dtype=np.float32)
    assert mixing.top_mask(x, 0.29).sum() == 29  # 0.29 * 100 is 28.999999999999996 in binary
    # the mixes and the threshold sampler share one top-k (clipcurate.sample.topk): 0.299999999997 of
    # 10**6 rows is 299,999.999997 rows, floored; both keep 299,999 and the same rows
    big = np.random.default_rng(0).normal(size=10**6).astype(np.float32)
    mask = mixing.top_mask(big, 0.299999999997)
    assert mask.sum() == 299_999
    np.testing.assert_array_equal(mask, threshold_top_fraction(big, 0.299999999997).astype(bool))
    assert mixing.top_mask(big, 0.3).sum() == 300_000
    assert mixing.top_mask(x, 1.0).all()
    assert not mixing.top_mask(x, 0.001).any()  # floor(0.1) = 0 rows
    np.testing.assert_array_equal(np.flatnonzero(mixing.top_mask(x, 0.05)), [95, 96, 97, 98, 99])
    ties = np.zeros(10, dtype=np.float32)
    np.testing.assert_array_equal(np.flatnonzero(mixing.top_mask(ties, 0.3)), [0, 1, 2])


def test_intersection_and_union(chunked):
    np.testing.assert_array_equal(mixing.intersection_top([SA, SB], [0.5, 1 / 3]), [False, False, True, False, False, False])
    np.testing.assert_array_equal(mixing.union_top([SA, SB], [0.5, 1 / 3]), [True, True, True, False, False, True])
    out = mixing.mix("union", {"a": SA, "b": SB}, {"fractions": {"a": 0.5, "b": 1 / 3}})
    np.testing.assert_array_equal(out["keep"], [True, True, True, False, False, True])
    np.testing.assert_array_equal(out["score"], [1, 1, 1, 0, 0, 1])
    assert out["score"].dtype == np.float32 and out["keep"].dtype == np.bool_


def test_two_stage_q_is_relative_to_original_pool(chunked):
    # stage 1: top 1/2 of the pool by SA -> rows {0, 1, 2}; b there is [1, 4, 4]
    b = np.array([1, 4, 4, 8, 8, 8], dtype=np.float32)
    # q = 1/3 of the ORIGINAL 6 rows = 2 rows (1/3 of the 3 survivors would be 1): rows 1, 2;
    # rows 3-5 have the highest b but did not pass stage 1
    np.testing.assert_array_equal(mixing.two_stage(SA, b, 0.5, 1 / 3), [False, True, True, False, False, False])
    # q = 1/6 -> 1 row: the tie at 4 between rows 1 and 2 goes to row 1
    np.testing.assert_array_equal(mixing.two_stage(SA, b, 0.5, 1 / 6), [False, True, False, False, False, False])
    # q = p keeps the whole first stage
    np.testing.assert_array_equal(mixing.two_stage(SA, b, 0.5, 0.5), TOP_A)
    out = mixing.mix("two_stage", {"s": SA, "n": b}, {"first": "s", "second": "n", "p": 0.5, "q": 1 / 3})
    np.testing.assert_array_equal(out["keep"], [False, True, True, False, False, False])


def test_two_stage_errors():
    with pytest.raises(MixingError, match="q"):
        mixing.two_stage(SA, SB, 0.2, 0.3)
    with pytest.raises(MixingError, match="p"):
        mixing.two_stage(SA, SB, 0.0, 0.0)
    with pytest.raises(MixingError, match="p"):
        mixing.two_stage(SA, SB, 1.5, 0.2)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan"), "0.2", True])
def test_fraction_outside_unit_interval(bad):
    with pytest.raises(MixingError, match=r"fractions\['b'\]"):
        mixing.mix("intersection", {"a": SA, "b": SB}, {"fractions": {"a": 0.5, "b": bad}})


def test_set_methods_reject_non_finite():
    with pytest.raises(MixingError, match="'b'.*non-finite"):
        mixing.mix("intersection", {"a": SA, "b": np.array([0, 1, np.inf, 2, 2, 9], dtype=np.float32)}, {"fractions": 0.5})


# --------------------------------------------------------------------------------------------
# dispatcher


def test_identity():
    out = mixing.mix("identity", {"a": A})
    np.testing.assert_array_equal(out["score"], A)
    assert set(out) == {"score"}
    out = mixing.mix("identity", {"a": A, "b": B}, {"input": "b"})
    np.testing.assert_array_equal(out["score"], B)
    keep = np.array([True, False, True, True])
    out = mixing.mix("identity", {"k": keep})
    np.testing.assert_array_equal(out["keep"], keep)
    np.testing.assert_array_equal(out["score"], [1, 0, 1, 1])


@pytest.mark.parametrize(
    "method, params, match",
    [
        ("median", {}, r"'median'.*standardized_sum"),
        ("weighted_sum", {"weights": {"a": 1, "c": 2}}, r"unknown input 'c'.*\['a', 'b'\]"),
        ("weighted_sum", {"weights": {"a": 1}}, r"no entry for input\(s\) \['b'\]"),
        ("weighted_sum", {"weights": {"a": 0, "b": 0}}, "every weight is 0"),
        ("weighted_sum", {"weights": {"a": 1, "b": 1}, "standardise": True}, r"unknown parameter 'standardise'.*'standardize'"),
        ("in_weighted", {"in_accuracy": {"a": 0.3, "b": 0.5}}, "missing parameter 'r'"),
        ("in_weighted", {"in_accuracy": {"a": 0.3, "b": 0.5}, "r": 1}, "r"),
        ("in_weighted", {"in_accuracy": {"a": 0.3, "zz": 0.5}, "r": 2}, "'zz'"),
        ("intersection", {"fractions": {"a": 0.5, "b": 1.5}}, r"fractions\['b'\]"),
        ("two_stage", {"first": "a", "second": "nope", "p": 0.3, "q": 0.2}, r"'nope'.*\['a', 'b'\]"),
        ("two_stage", {"first": "a", "second": "b", "p": 0.2, "q": 0.3}, "q"),
        ("identity", {}, "params\\['input'\\]"),
        ("identity", {"input": "c"}, "'c'"),
    ],
)
def test_dispatcher_errors(method, params, match):
    with pytest.raises(MixingError, match=match):
        mixing.mix(method, {"a": A, "b": B}, params)


def test_dispatcher_input_errors():
    with pytest.raises(MixingError, match="empty"):
        mixing.mix("sum", {}, {})
    with pytest.raises(MixingError, match="'b' has 3 rows"):
        mixing.mix("sum", {"a": A, "b": B[:3]}, {})
    with pytest.raises(MixingError, match="weights"):
        mixing.mix("weighted_sum", {"a": A, "b": B}, {"weights": {"a": 1.0}})


def test_mixing_error_is_value_error():
    assert issubclass(MixingError, ValueError)


# --------------------------------------------------------------------------------------------
# files

UIDS = [f"{i:032x}" for i in range(4)]


@pytest.fixture
def pool(tmp_path):
    index = tmp_path / "index.parquet"
    fileio.write_table(pa.table({"uid": UIDS, "shard": [0, 0, 1, 1]}), index, fingerprint=uidcodec.uid_fingerprint(UIDS))
    fp = poolindex.index_fingerprint(index)
    # one file written by the workflow (fingerprint), one imported (uids compared)
    scorefiles.write_scores(tmp_path / "clip.parquet", pa.array(UIDS), {"a": A, "other": B}, fingerprint=fp)
    scorefiles.write_scores(tmp_path / "ext.parquet", pa.array(UIDS), {"b": B}, fingerprint=None)
    return tmp_path, index


def test_mix_files_round_trip(pool):
    d, index = pool
    out = d / "mixes" / "in8.parquet"
    specs = [("a", str(d / "clip.parquet"), "a"), ("b", str(d / "ext.parquet"), "b")]
    mix_files(specs, index, "in_weighted", {"in_accuracy": {"a": 0.3, "b": 0.5}, "r": 4}, out, poolindex.index_fingerprint(index))

    table = pq.read_table(out)
    assert table.column_names == ["uid", "score"]
    assert table.column("uid").to_pylist() == UIDS
    assert table.schema.field("score").type == pa.float32()
    np.testing.assert_allclose(table.column("score").to_numpy(), [0.8861198, -1.4824045, -1.1842621, 1.7805469], rtol=1e-6)
    # aligned by fingerprint, so the next stage reads it without comparing uids
    assert pq.read_schema(out).metadata[fileio.FINGERPRINT_KEY].decode() == poolindex.index_fingerprint(index)
    np.testing.assert_allclose(scorefiles.read_scores(out, index)["score"], table.column("score").to_numpy())

    stats = json.loads((d / "mixes" / "in8.stats.json").read_text())
    assert stats["method"] == "in_weighted" and stats["n_rows"] == 4 and stats["standardized"] is True
    assert stats["inputs"]["a"]["mean"] == pytest.approx(2.5)
    assert stats["inputs"]["a"]["std"] == pytest.approx(SQRT5 / 2)
    assert stats["inputs"]["b"]["mean"] == pytest.approx(5.0)
    assert stats["inputs"]["b"]["std"] == pytest.approx(5.0)
    assert stats["inputs"]["b"]["file"] == str(d / "ext.parquet") and stats["inputs"]["b"]["column"] == "b"
    assert stats["weights"] == pytest.approx({"a": 1 / 3, "b": 4 / 3})


def test_mix_files_set_method_writes_keep(pool):
    d, index = pool
    out = d / "inter.parquet"
    specs = [("a", d / "clip.parquet", "a"), ("o", d / "clip.parquet", "other")]
    mix_files(specs, index, "intersection", {"fractions": 0.5}, out)
    table = pq.read_table(out)
    assert table.column_names == ["uid", "score", "keep"]
    # top 2 of a = rows 2, 3; top 2 of other = [10, 0, 0, 10] -> rows 0, 3
    assert table.column("keep").to_pylist() == [False, False, False, True]
    stats = json.loads((d / "inter.stats.json").read_text())
    assert stats["counts"]["keep"] == 1 and stats["standardized"] is False and stats["weights"] is None


def test_filter_counts_hand_computed():
    # counts [2, 0, 3, 1, 4, 1]; keep a = rows 0, 2, 3, 4; keep b = rows 0, 1, 2, 5 -> both: rows 0, 2
    counts = np.array([2, 0, 3, 1, 4, 1], dtype=np.uint32)
    a = np.array([1, 0, 1, 1, 1, 0], dtype=bool)
    b = np.array([1, 1, 1, 0, 0, 1], dtype=bool)
    res = mixing.mix_details("filter_counts", {"dup:count": counts, "a:keep": a, "b:keep": b}, {"counts": "dup:count"})
    assert res.columns["count"].tolist() == [2, 0, 3, 0, 0, 0] and res.columns["count"].dtype == np.uint32
    assert res.columns["keep"].tolist() == [True, False, True, False, False, False]
    assert res.columns["score"].tolist() == [2.0, 0.0, 3.0, 0.0, 0.0, 0.0]
    assert res.counts == {"count_in": 11, "rows_in": 5, "count": 5, "keep": 2}
    assert mixing.outputs("filter_counts") == ("score", "keep", "count") and mixing.outputs("sum") == ("score",)


@pytest.mark.parametrize("cols, params, match", [
    ({"c": np.array([1.0, 2.0]), "k": np.array([True, True])}, {"counts": "c"},
     r"filter_counts: input 'c' \(params\['counts'\]\): expected non-negative integer repeat counts, got dtype float64"),
    ({"c": np.array([1, -1]), "k": np.array([True, True])}, {"counts": "c"},
     r"filter_counts: input 'c' \(params\['counts'\]\): row 1 has count -1"),
    ({"c": np.array([1, 2]), "k": np.array([0.5, 1.0])}, {"counts": "c"},
     r"filter_counts: input 'k' has dtype float64; expected a boolean keep column"),
    ({"c": np.array([1, 2]), "k": np.array([True, True])}, {"counts": "x"}, r"params\['counts'\] names unknown input 'x'"),
    ({"c": np.array([1, 2])}, {"counts": "c"}, r"needs at least one keep input"),
    ({"c": np.array([1, 2]), "k": np.array([True, True])}, {}, r"missing parameter 'counts'"),
])
def test_filter_counts_errors_name_the_input(cols, params, match):
    with pytest.raises(MixingError, match=match):
        mixing.mix("filter_counts", cols, params)


def test_mix_files_filter_counts_writes_integer_counts(pool):
    d, index = pool
    scorefiles.write_scores(d / "dup.parquet", pa.array(UIDS), {"score": A, "count": np.array([3, 1, 0, 2])},
                            fingerprint=poolindex.index_fingerprint(index))
    scorefiles.write_scores(d / "filt.parquet", pa.array(UIDS), {"keep": np.array([True, False, True, True])}, fingerprint=None)
    out = d / "fc.parquet"
    specs = [("dup:count", d / "dup.parquet", "count"), ("filt:keep", d / "filt.parquet", "keep")]
    mix_files(specs, index, "filter_counts", {"counts": "dup:count"}, out)
    table = pq.read_table(out)
    assert table.column_names == ["uid", "score", "keep", "count"]
    assert table.schema.field("count").type == pa.uint32()
    assert scorefiles.read_scores(out, index)["count"].tolist() == [3, 0, 0, 2]
    # the counts sampler takes them unchanged
    from clipcurate.sample import subset

    assert subset.select({"method": "counts"}, scorefiles.read_scores(out, index), 4, 10, 0).tolist() == [3, 0, 0, 2]


def test_mix_files_bad_score_file_names_it(pool):
    d, index = pool
    bad = d / "bad.parquet"
    scorefiles.write_scores(bad, pa.array(UIDS), {"b": np.array([1, np.nan, 2, 3], dtype=np.float32)}, fingerprint=None)
    out = d / "out.parquet"
    with pytest.raises(fileio.ContractError, match="bad.parquet"):
        mix_files([("a", d / "clip.parquet", "a"), ("b", bad, "b")], index, "standardized_sum", {}, out)
    assert not out.exists()


def test_mix_files_misaligned_file_names_it(pool):
    d, index = pool
    shuffled = d / "shuffled.parquet"
    scorefiles.write_scores(shuffled, pa.array(UIDS[::-1]), {"b": B}, fingerprint=None)
    with pytest.raises(fileio.ContractError, match="shuffled.parquet.*order"):
        mix_files([("b", shuffled, "b")], index, "identity", {}, d / "out.parquet")


def test_mix_files_validates_before_reading(pool):
    d, index = pool
    with pytest.raises(MixingError, match="empty"):
        mix_files([], index, "sum", {}, d / "out.parquet")
    # params are checked before the (missing) file is opened
    with pytest.raises(MixingError, match="'zz'"):
        mix_files([("a", d / "missing.parquet", "a")], index, "weighted_sum", {"weights": {"zz": 1}}, d / "o.parquet")


def test_in_weighted_needs_distinct_accuracies():
    with pytest.raises(MixingError, match="2 distinct"):
        mixing.mix("in_weighted", {"a": A, "b": B}, {"in_accuracy": {"a": 0.3, "b": 0.3}, "r": 4})
    with pytest.raises(MixingError, match="2 distinct"):
        mixing.mix("in_weighted", {"a": A}, {"in_accuracy": {"a": 0.3}, "r": 4})
