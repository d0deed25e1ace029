"""The dedup rows of the filter-quality report on a hand-computed pool."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.pool import dedup as D
from clipcurate.core import poolindex, scorefiles
from clipcurate.pool import download as pool
from clipcurate.report import quality
from tests.conftest import hex_uid


def test_dedup_rows_by_hand(tmp_path):
    # rows: 0 clean, 1 clean, 2 near_duplicate of 0, 3 near_duplicate of 1, 4 misaligned,
    #       5 near_duplicate of 0, 6 eval_copy, 7 clean
    kinds = ["clean", "clean", "near_duplicate", "near_duplicate", "misaligned", "near_duplicate", "eval_copy", "clean"]
    uids = [hex_uid(i) for i in range(8)]
    dup_of = [None, None, uids[0], uids[1], None, uids[0], None, None]
    index = tmp_path / "index.parquet"
    pool.write_index(pa.table({"uid": uids, "shard": [0] * 8, "key": [str(i) for i in range(8)]}), index)
    truth = tmp_path / "truth.parquet"
    pq.write_table(pa.table({"uid": uids[::-1], "kind": kinds[::-1], "dup_of": dup_of[::-1]}), truth)
    fp = poolindex.index_fingerprint(index)
    # near_dup found the group {0, 2, 5} (kept 0) and wrongly the pair {4, 7} (kept 4); missed 3
    nd_keep = np.array([1, 1, 0, 1, 1, 0, 1, 0], bool)
    nd_size = np.array([3, 1, 3, 1, 2, 3, 1, 2])
    scorefiles.write_scores(tmp_path / "nd.parquet", pa.array(uids), {"score": D.dup_score(nd_size), "keep": nd_keep}, fingerprint=fp)
    # semdedup removed the original 1 (kept its copy 3) and the copy 2
    sd_keep = np.array([1, 0, 0, 1, 1, 1, 1, 1], bool)
    scorefiles.write_scores(tmp_path / "sd.parquet", pa.array(uids), {"score": np.ones(8, np.float32), "keep": sd_keep}, fingerprint=fp)
    dc_keep = np.array([1, 1, 1, 1, 1, 1, 0, 0], bool)
    scorefiles.write_scores(tmp_path / "dc.parquet", pa.array(uids), {"score": np.ones(8, np.float32), "keep": dc_keep}, fingerprint=fp)
    rows, _ = quality.build_report({"nd": tmp_path / "nd.parquet", "sd": tmp_path / "sd.parquet", "dc": tmp_path / "dc.parquet"},
                                   {}, truth, index, methods={"nd": "near_dup", "sd": "semdedup", "dc": "decontam"})
    by = {r["entry"]: r for r in rows if r["type"] == "dedup"}
    nd, sd, dc = by["nd:dedup"], by["sd:dedup"], by["dc:dedup"]
    # near_dup: removed 2, 5, 7; near duplicates 2, 3, 5 -> precision 2/3, recall 2/3; pairs found: 2, 5 -> 2/3
    assert (nd["removed"], nd["target"], nd["groups"]) == (3, 3, 2)
    assert nd["precision"] == pytest.approx(2 / 3) and nd["recall"] == pytest.approx(2 / 3)
    assert nd["pair_recall"] == pytest.approx(2 / 3)
    # semdedup: removed 1, 2 -> precision 1/2, recall 1/3; pairs found: 2 (itself), 3 (its original 1) -> 2/3
    assert (sd["removed"], sd["groups"]) == (2, "")
    assert sd["precision"] == pytest.approx(1 / 2) and sd["recall"] == pytest.approx(1 / 3)
    assert sd["pair_recall"] == pytest.approx(2 / 3)
    # decontam against eval_copy: removed 6, 7 -> precision 1/2, recall 1
    assert dc["target_kind"] == "eval_copy" and dc["precision"] == pytest.approx(0.5) and dc["recall"] == 1.0
    # the CSV carries them; the heatmap draws only the AUC rows
    assert "nd:dedup" in quality.to_csv(rows)
    quality.plot_heatmap(rows, tmp_path / "h.png")


def test_a_missing_target_kind_gives_no_precision(tmp_path):
    kinds = np.array(["clean", "near_duplicate"])
    from clipcurate.report.dedup_quality import dedup_row

    row = dedup_row("dc", "decontam", np.array([True, False]), None, kinds)
    assert row["target"] == 0 and np.isnan(row["recall"]) and row["precision"] == 0.0
