"""Shared file contracts: uid encoding, alignment checks, subsets, atomic writes."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.core import alignment, fileio, poolindex, scorefiles, uidcodec
from tests.conftest import hex_uid


def test_uid_pairs_match_datacomp_encoding():
    uids = ["0123456789abcdef" + "fedcba9876543210", "ffffffffffffffff0000000000000001"]
    pairs = uidcodec.uids_to_pairs(uids)
    # DataComp: (int(uid[:16], 16), int(uid[16:], 16))
    assert [(int(p["f0"]), int(p["f1"])) for p in pairs] == [(int(u[:16], 16), int(u[16:], 16)) for u in uids]
    assert uidcodec.pairs_to_uids(pairs) == uids
    assert uidcodec.uids_to_pairs(["ABCDEF" + "0" * 26])["f0"][0] == int("abcdef" + "0" * 10, 16)


@pytest.mark.parametrize("bad", ["xyz", "g" * 32])
def test_uid_validation(bad):
    with pytest.raises(fileio.ContractError, match="uid"):
        uidcodec.uids_to_pairs([bad])


def test_fingerprint_depends_on_order():
    a = pa.array([hex_uid(i) for i in range(5)])
    b = pa.array([hex_uid(i) for i in [1, 0, 2, 3, 4]])
    assert uidcodec.uid_fingerprint(a) == uidcodec.uid_fingerprint(pa.array(a.to_pylist()))
    assert uidcodec.uid_fingerprint(a) != uidcodec.uid_fingerprint(b)


def _plain(tmp_path, uids, values, name="s.parquet"):
    path = tmp_path / name
    pq.write_table(pa.table({"uid": pa.array(uids), "score": pa.array(values, pa.float32())}), path)
    return path


def test_read_scores_checks_alignment_and_values(tmp_path, make_index):
    uids = [hex_uid(i) for i in range(6)]
    index = make_index(uids)
    ok = _plain(tmp_path, uids, np.arange(6.0))
    np.testing.assert_array_equal(scorefiles.read_scores(ok, index)["score"], np.arange(6, dtype=np.float32))

    with pytest.raises(fileio.ContractError, match=r"bad1.parquet: rows are out of the pool index order from row 0"):
        scorefiles.read_scores(_plain(tmp_path, uids[::-1], np.arange(6.0), "bad1.parquet"), index)
    with pytest.raises(fileio.ContractError, match=r"duplicate uid"):
        scorefiles.read_scores(_plain(tmp_path, uids[:5] + uids[:1], np.arange(6.0), "bad2.parquet"), index)
    with pytest.raises(fileio.ContractError, match=r"1 uids of the pool index are missing"):
        scorefiles.read_scores(_plain(tmp_path, uids[:5], np.arange(5.0), "bad3.parquet"), index)
    with pytest.raises(fileio.ContractError, match=r"not in the pool index"):
        scorefiles.read_scores(_plain(tmp_path, uids + [hex_uid(99)], np.arange(7.0), "bad4.parquet"), index)
    vals = np.arange(6.0)
    vals[3] = np.inf
    with pytest.raises(fileio.ContractError, match=r"bad5.parquet: column 'score' has a non-finite value \(inf\) at row 3"):
        scorefiles.read_scores(_plain(tmp_path, uids, vals, "bad5.parquet"), index)
    with pytest.raises(fileio.ContractError, match=r"no column 'other'"):
        scorefiles.read_scores(ok, index, columns=["other"])


def test_fingerprint_is_recorded_and_an_aligned_file_passes(tmp_path, make_index):
    uids = [hex_uid(i) for i in range(4)]
    index = make_index(uids)
    path = tmp_path / "fp.parquet"
    scorefiles.write_scores(path, pa.array(uids), {"score": np.ones(4)}, fingerprint=poolindex.index_fingerprint(index))
    assert pq.read_schema(path).metadata[fileio.FINGERPRINT_KEY].decode() == poolindex.index_fingerprint(index)
    alignment.check_alignment(path, index)


def test_subset_npy_is_sorted_with_repeats(tmp_path):
    uids = pa.array([hex_uid(i) for i in [9, 3, 7, 1]])
    scorefiles.write_subset(tmp_path / "s.parquet", tmp_path / "s.npy", uids, np.array([2, 0, 1, 3]))
    arr = np.load(tmp_path / "s.npy")
    assert arr.dtype == np.dtype("u8,u8")
    assert [int(x) for x in arr["f1"]] == [1, 1, 1, 7, 9, 9]
    sub = scorefiles.read_subset(tmp_path / "s.parquet")
    assert sub.column("uid").to_pylist() == [hex_uid(9), hex_uid(7), hex_uid(1)]
    assert sub.column("count").to_pylist() == [2, 1, 3]


def test_atomic_path_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_outputs_get_the_mode_of_a_plain_open(tmp_path):
    import os
    import stat

    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    fileio.write_json({}, tmp_path / "atomic.json")
    assert stat.S_IMODE(os.stat(tmp_path / "atomic.json").st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
