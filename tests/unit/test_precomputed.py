"""DataComp's npz embeddings as embedding files; download resume bookkeeping; the oracle-row note."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.core import fileio
from clipcurate.pool import download as pool, precomputed
from clipcurate.report.tables import dropped_note, to_markdown
from tests.conftest import hex_uid


def _datacomp_dir(tmp_path, sizes=(5, 7), dim=4, seed=0):
    """Metadata parquet + row-aligned npz files; returns {uid: (image, text)} as written (float16)."""
    rng = np.random.default_rng(seed)
    meta = tmp_path / "metadata"
    meta.mkdir()
    truth, k = {}, 0
    for f, n in enumerate(sizes):
        uids = [hex_uid(1000 + k + i) for i in range(n)]
        k += n
        arrays = {key: rng.standard_normal((n, dim)).astype(np.float16) for key in ("b32_img", "b32_txt", "l14_img", "l14_txt")}
        pq.write_table(pa.table({"uid": uids}), meta / f"{f:032x}.parquet")
        np.savez_compressed(meta / f"{f:032x}.npz", **arrays)
        for i, u in enumerate(uids):
            truth[u] = {key: arrays[key][i].astype(np.float64) for key in arrays}
    return meta, truth


def _index(tmp_path, uids, chunks):
    path = tmp_path / "index.parquet"
    fileio.write_table(pa.table({"uid": pa.array(uids, pa.string()), "shard": pa.array(chunks, pa.int32()),
                                 "key": pa.array([f"{i:09d}" for i in range(len(uids))]),
                                 "chunk": pa.array(chunks, pa.int32())}), path)
    return path


def test_chunk_embeddings_are_the_normalised_npz_rows_of_each_uid(tmp_path):
    meta, truth = _datacomp_dir(tmp_path)
    rng = np.random.default_rng(1)
    uids = [u for u in truth if rng.random() < 0.8]  # some samples failed to download
    uids = [uids[i] for i in rng.permutation(len(uids))]  # index order is not metadata order
    chunks = sorted(rng.integers(0, 3, len(uids)).tolist())
    rows = tmp_path / "rows.parquet"
    stats = precomputed.build_row_map(_index(tmp_path, uids, chunks), meta, rows)
    assert stats["index_rows"] == len(uids) and stats["metadata_rows"] == 12
    for chunk in range(3):
        out = tmp_path / f"{chunk}.parquet"
        precomputed.write_chunk_embeddings(rows, meta, chunk, "l14", out)
        got = pq.read_table(out)
        want = [u for u, c in zip(uids, chunks) if c == chunk]
        assert got.column("uid").to_pylist() == want
        img = np.array(got.column("image").to_pylist())
        txt = np.array(got.column("text").to_pylist())
        for i, u in enumerate(want):
            for arr, key in ((img, "l14_img"), (txt, "l14_txt")):
                v = truth[u][key]
                np.testing.assert_allclose(arr[i], v / np.linalg.norm(v), atol=1e-6)


def test_an_index_uid_missing_from_the_metadata_is_named(tmp_path):
    meta, truth = _datacomp_dir(tmp_path)
    stranger = hex_uid(99)
    with pytest.raises(fileio.ContractError, match=f"uid {stranger} .*is in no metadata parquet"):
        precomputed.build_row_map(_index(tmp_path, [*list(truth)[:3], stranger], [0, 0, 0, 0]), meta, tmp_path / "r.parquet")


def test_an_npz_that_is_not_row_aligned_is_named(tmp_path):
    meta, truth = _datacomp_dir(tmp_path)
    rows = tmp_path / "rows.parquet"
    precomputed.build_row_map(_index(tmp_path, list(truth), [0] * len(truth)), meta, rows)
    bad = meta / f"{1:032x}.npz"
    np.savez_compressed(bad, b32_img=np.zeros((6, 4), np.float16), b32_txt=np.zeros((7, 4), np.float16))
    with pytest.raises(fileio.ContractError, match=r"0+1\.npz: b32_img has shape \(6, 4\), expected \(7, d\)"):
        precomputed.write_chunk_embeddings(rows, meta, 0, "b32", tmp_path / "out.parquet")
    bad.unlink()
    with pytest.raises(fileio.ContractError, match=r"0+1\.npz: DataComp embeddings not found"):
        precomputed.write_chunk_embeddings(rows, meta, 0, "b32", tmp_path / "out.parquet")


def test_partial_download_is_kept_only_for_the_same_metadata_and_parameters(tmp_path):
    part = tmp_path / "shards.partial"
    assert pool.prepare_partial(part, "stamp-a") == []
    for s in (0, 2):
        (part / f"{s:08d}_stats.json").write_text("{}")
    (part / "00000001.tar").write_bytes(b"cut short")  # a shard in progress has no stats file
    assert pool.prepare_partial(part, "stamp-a") == [0, 2]
    assert (part / "00000001.tar").exists()
    assert pool.prepare_partial(part, "stamp-b") == []  # other metadata or parameters: start again
    assert sorted(p.name for p in part.iterdir()) == [pool.RESUME_STAMP]


def test_metadata_without_the_sha256_column_is_named(tmp_path):
    meta = tmp_path / "metadata"
    meta.mkdir()
    pq.write_table(pa.table({"uid": [hex_uid(1)], "url": ["http://127.0.0.1:1/x.jpg"], "text": ["x"]}), meta / "a.parquet")
    cfg = {"samples_per_shard": 5, "processes": 1, "threads": 1, "image_size": 32, "resize_mode": "center_crop",
           "encode_quality": 95, "retries": 0, "timeout": 1, "verify_sha256": True}
    with pytest.raises(fileio.ContractError, match=r"a\.parquet: metadata parquet lacks column\(s\) \['sha256'\]"):
        pool.download_pool(meta, tmp_path / "shards", cfg)
    assert not (tmp_path / "shards.partial").exists()


def test_a_table_names_its_dropped_oracle_rows():
    note = dropped_note([{"label": "Ground-truth clean", "recipe": "gt_clean", "oracles": ["truth_clean"]}])
    md = to_markdown(["method", "ImageNet"], [["No filtering", 0.5]], "T", note)
    assert md.endswith("Note: 1 row(s) of this table need the tiny world's ground truth and are not built on a "
                       "real pool: Ground-truth clean (recipe gt_clean, oracle score truth_clean).\n")
    assert dropped_note([]) is None
