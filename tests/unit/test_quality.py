"""The filter-quality report against independent computations: AUC by brute-force pairs,
precision and recall by hand."""

import csv
import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.core import poolindex, scorefiles
from clipcurate.pool import download as pool
from clipcurate.report import quality
from tests.conftest import hex_uid


def brute_auc(pos, neg):
    """The fraction of (positive, negative) pairs ordered correctly, ties counting one half."""
    total = 0.0
    for p, n in itertools.product(pos, neg):
        total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_auc_equals_the_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 6, size=37).astype(float)  # few values: many ties, within and across sides
    neg = rng.integers(0, 5, size=23).astype(float)
    assert quality.rank_auc(pos, neg) == pytest.approx(brute_auc(pos, neg), abs=1e-12)
    assert quality.rank_auc(np.array([1.0, 2.0]), np.array([0.0])) == 1.0
    assert quality.rank_auc(np.array([0.0]), np.array([1.0, 2.0])) == 0.0
    assert quality.rank_auc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    assert np.isnan(quality.rank_auc(np.array([]), np.array([1.0])))


def test_precision_recall_by_hand():
    kept = np.array([1, 1, 1, 0, 0, 1, 0, 0], bool)
    clean = np.array([1, 0, 1, 1, 0, 1, 0, 0], bool)
    # kept & clean = rows 0, 2, 5 -> 3; kept = 4; clean = 4
    assert quality.precision_recall(kept, clean) == (3 / 4, 3 / 4)
    p, r = quality.precision_recall(np.zeros(8, bool), clean)
    assert np.isnan(p) and r == 0.0


@pytest.fixture()
def pool_files(tmp_path):
    """Ten pool rows with known kinds, a continuous score, a keep filter, a subset; and truth with an
    extra row (a failed download, not in the index)."""
    kinds = ["clean", "clean", "clean", "clean", "misaligned", "misaligned", "non_english", "non_english", "clean", "misaligned"]
    uids = [hex_uid(i) for i in range(10)]
    index = tmp_path / "index.parquet"
    pool.write_index(pa.table({"uid": uids, "shard": [0] * 10, "key": [str(i) for i in range(10)]}), index)
    truth = tmp_path / "truth.parquet"
    pq.write_table(pa.table({"uid": uids[::-1] + [hex_uid(99)], "kind": kinds[::-1] + ["failing_url"]}), truth)
    score = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.8, 0.5, 0.1, 0.6, 0.4], np.float32)
    keep = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1, 1], bool)
    fp = poolindex.index_fingerprint(index)
    scorefiles.write_scores(tmp_path / "s.parquet", pa.array(uids), {"score": score}, fingerprint=fp)
    scorefiles.write_scores(tmp_path / "f.parquet", pa.array(uids), {"score": keep.astype(np.float32), "keep": keep}, fingerprint=fp)
    kept = [0, 1, 3, 5]
    scorefiles.write_subset(tmp_path / "r.parquet", None, pa.array(uids), np.isin(np.arange(10), kept).astype(np.int64))
    return tmp_path, np.array(kinds), score, keep, kept


def test_report_matches_independent_computations(pool_files, drawn):
    d, kinds, score, keep, kept = pool_files
    expectations = [
        {"claim": "s beats f on misaligned", "kind": "misaligned", "better": "s", "worse": "f"},
        {"claim": "f catches non-English", "kind": "non_english", "score": "f:keep", "min_auc": 0.9},
        {"claim": "lang id", "kind": "non_english", "score": "lang:keep", "min_auc": 0.9},
    ]
    rows, results = quality.build_report(
        {"s": d / "s.parquet", "f": d / "f.parquet"}, {"r": ("s", d / "r.parquet")},
        d / "truth.parquet", d / "index.parquet", expectations,
    )
    by = {r["entry"]: r for r in rows}
    assert set(by) == {"s", "f", "f:keep", "r"}
    clean = kinds == "clean"
    for k in ("misaligned", "non_english"):
        assert by["s"][f"auc_{k}"] == pytest.approx(brute_auc(score[clean], score[kinds == k]))
        assert by["f:keep"][f"auc_{k}"] == pytest.approx(brute_auc(keep[clean], keep[kinds == k]))
    assert by["s"]["auc_all_bad"] == pytest.approx(brute_auc(score[clean], score[~clean]))
    # by hand: clean rows 0,1,2,3,8; kept 0,1,3,5 -> clean kept 0,1,3
    assert by["r"]["precision"] == pytest.approx(3 / 4) and by["r"]["recall"] == pytest.approx(3 / 5)
    assert by["r"]["kept_fraction"] == pytest.approx(0.4)
    # non-English: keep is False for both (rows 6, 7), True for 4 of 5 clean: AUC = 0.8 + 0.2 * 0.5 = 0.9
    assert by["f:keep"]["auc_non_english"] == pytest.approx(0.9)
    status = {x["claim"]: x["status"] for x in results}
    s_mis = brute_auc(score[clean], score[kinds == "misaligned"])
    f_mis = brute_auc(keep[clean], keep[kinds == "misaligned"])
    assert status["s beats f on misaligned"] == ("holds" if s_mis > f_mis else "does not hold")
    assert status["f catches non-English"] == "holds" and status["lang id"] == "not checked"
    assert "f catches non-English: holds" in by["f:keep"]["notes"]
    text = quality.notes_text(results)
    assert "NOT CHECKED" in text and "lang:keep" in text
    table = list(csv.DictReader(quality.to_csv(rows).splitlines()))
    assert table[0]["entry"] == "s" and float(table[0]["auc_misaligned"]) == pytest.approx(s_mis, abs=1e-4)
    quality.plot_heatmap(rows, d / "h.png")
    assert (d / "h.png").read_bytes()[:4] == b"\x89PNG"
    ax = drawn[0][0].axes[0]  # the heatmap: one row per score or filter, one column per bad kind
    entries = [t.get_text() for t in ax.get_yticklabels()]
    kinds_drawn = [t.get_text() for t in ax.get_xticklabels()]
    assert entries == [r["entry"] for r in rows if r["type"] != "recipe"] and "r" not in entries
    cells = ax.images[0].get_array()
    assert cells[entries.index("s"), kinds_drawn.index("misaligned")] == pytest.approx(s_mis)
    assert cells[entries.index("f:keep"), kinds_drawn.index("non_english")] == pytest.approx(0.9)
    assert f"{s_mis:.2f}" in [t.get_text() for t in ax.texts]


def test_report_names_a_pool_uid_missing_from_the_truth(pool_files, tmp_path):
    d = pool_files[0]
    pq.write_table(pa.table({"uid": [hex_uid(0)], "kind": ["clean"]}), tmp_path / "t2.parquet")
    with pytest.raises(quality.QualityError, match="9 pool uids have no ground-truth row"):
        quality.truth_for_index(tmp_path / "t2.parquet", d / "index.parquet")


def test_report_has_a_row_per_further_float_column_but_not_counts(pool_files):
    """HYPE's neg_dist/eps_i/eps_t get rows of their own (entry ``<score>:<column>``); counts do not."""
    d, kinds, score, keep, kept = pool_files
    uids = poolindex.read_index(d / "index.parquet", columns=["uid"]).column("uid")
    eps = -score.copy()
    scorefiles.write_scores(d / "h.parquet", uids, {"score": score, "eps": eps, "count": np.arange(10, dtype=np.uint32)},
                            fingerprint=poolindex.index_fingerprint(d / "index.parquet"))
    rows, _ = quality.build_report({"h": d / "h.parquet"}, {}, d / "truth.parquet", d / "index.parquet")
    by = {r["entry"]: r for r in rows}
    assert set(by) == {"h", "h:eps"}
    clean = kinds == "clean"
    assert by["h:eps"]["auc_misaligned"] == pytest.approx(brute_auc(eps[clean], eps[kinds == "misaligned"]))


def test_auc_se_is_the_null_variance_of_mann_whitney_at_chance():
    # at A = 0.5 Hanley-McNeil's variance is (1/4 + (n_pos + n_neg - 2) / 12) / (n_pos n_neg), which is
    # the exact null variance of U / (n_pos n_neg): (n_pos + n_neg + 1) / (12 n_pos n_neg)
    for n_pos, n_neg in ((10, 10), (7, 30), (400, 1000)):
        assert quality.auc_se(0.5, n_pos, n_neg) == pytest.approx(np.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg)))
    assert np.isnan(quality.auc_se(0.7, 0, 5)) and np.isnan(quality.auc_se(float("nan"), 5, 5))


def test_auc_se_matches_the_spread_of_simulated_aucs():
    """Exponential scores (the model Hanley-McNeil's Q1, Q2 are exact for): negatives Exp(1), positives
    Exp(rate r), so AUC = P(pos > neg) = 1 / (1 + r); the SD of 4,000 simulated AUCs against the formula."""
    rng = np.random.default_rng(0)
    n_pos, n_neg = 60, 90
    for r in (1.0, 0.25):
        aucs = [quality.rank_auc(rng.exponential(1 / r, n_pos), rng.exponential(1.0, n_neg)) for _ in range(4000)]
        # the SD of 4,000 draws is within about 2.2 % of the truth (1 / sqrt(2 * 4000)); 8 % is ~3.5 of those
        assert np.std(aucs) == pytest.approx(quality.auc_se(1 / (1 + r), n_pos, n_neg), rel=0.08)


def test_score_rows_carry_each_auc_standard_error(pool_files):
    d, kinds, score, keep, kept = pool_files
    rows, _ = quality.build_report({"s": d / "s.parquet"}, {}, d / "truth.parquet", d / "index.parquet")
    clean = kinds == "clean"
    for k, bad in (("misaligned", kinds == "misaligned"), ("all_bad", ~clean)):
        assert rows[0][f"auc_{k}_se"] == pytest.approx(quality.auc_se(rows[0][f"auc_{k}"], int(clean.sum()), int(bad.sum())))
