"""Row alignment of a per-sample file with the pool index: the uid columns compared row by row.

Every per-sample file of the workflow is a parquet table with a ``uid`` column whose rows follow
the pool index's canonical order (docs/architecture.md, section 3). Alignment is checked by
comparing the file's uid column with the index's, row by row, every time: a file written by this
workflow also carries the index fingerprint (sha256 of the index's uid column) in its parquet
metadata, but metadata survives a re-sort or a copy of another pool's uids into the file, so it is
recorded for provenance and never trusted as proof. The comparison streams both uid columns in
blocks and compares their raw bytes (offsets and characters) with numpy, so it holds two blocks in
memory, not two 128M-row columns (``benchmarks/bench_alignment.py`` measures it); a pair of files
already compared in this process (same size and modification time) is not compared again. A
mismatch is diagnosed as missing, duplicate or out-of-order uids.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate.core.fileio import ContractError, open_parquet, read_parquet
from clipcurate.core.poolindex import read_index

#: rows per block when comparing uid columns (two blocks of 32-byte uids are in memory at once)
ALIGN_BLOCK = 1 << 20

# (file, index) pairs already found aligned in this process, keyed by path, size and mtime, so that
# reading several columns of one file (one read per column, to bound memory) compares uids once
_ALIGNED: set[tuple] = set()


def _file_key(path: str | os.PathLike) -> tuple:
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def _uid_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(offsets from 0, character bytes) of a string/binary array without nulls; None otherwise."""
    if arr.null_count:
        return None
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        off_dtype = np.int64
    elif pa.types.is_string(arr.type) or pa.types.is_binary(arr.type):
        off_dtype = np.int32
    else:
        return None
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_dtype)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], data[offsets[0] : offsets[-1]]


def _blocks_equal(a: pa.Array, b: pa.Array) -> bool:
    if a.null_count or b.null_count:  # a null uid is never aligned (check_uid_order names its row)
        return False
    ra, rb = _uid_bytes(a), _uid_bytes(b)
    if ra is None or rb is None:
        return a.to_pylist() == b.to_pylist()
    return np.array_equal(ra[0], rb[0]) and np.array_equal(ra[1], rb[1])


def _uid_blocks(pf: pq.ParquetFile) -> Iterator[pa.Array]:
    for batch in pf.iter_batches(batch_size=ALIGN_BLOCK, columns=["uid"]):
        yield batch.column(0)


def _row_groups(pf: pq.ParquetFile) -> list[int]:
    return [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))  # what this (Slurm) job may use, not the node's count
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _same_row_group(path, index_path, i: int) -> bool:
    a = pq.ParquetFile(path).read_row_group(i, columns=["uid"]).column(0).combine_chunks()
    b = pq.ParquetFile(index_path).read_row_group(i, columns=["uid"]).column(0).combine_chunks()
    return _blocks_equal(a, b)


def same_uids(path: str | os.PathLike, index_path: str | os.PathLike) -> bool:
    """Whether the uid column of ``path`` equals the index's, row for row (vectorised).

    Files written by :func:`~clipcurate.core.fileio.write_table` share the index's row groups; those are compared in
    parallel threads (parquet decoding releases the GIL), one row group of each file per thread.
    Other files are streamed in blocks of :data:`ALIGN_BLOCK` rows.
    """
    pf, pi = open_parquet(path), open_parquet(index_path, "pool index")
    if pf.metadata.num_rows != pi.metadata.num_rows:
        return False
    try:
        if pf.num_row_groups > 1 and _row_groups(pf) == _row_groups(pi):
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(_workers()) as pool:
                return all(pool.map(lambda i: _same_row_group(path, index_path, i), range(pf.num_row_groups)))
        blocks_f, blocks_i = _uid_blocks(pf), _uid_blocks(pi)
        rest_f = rest_i = None
        while True:
            if rest_f is None or len(rest_f) == 0:
                rest_f = next(blocks_f, None)
            if rest_i is None or len(rest_i) == 0:
                rest_i = next(blocks_i, None)
            if rest_f is None or rest_i is None:
                return rest_f is None and rest_i is None
            k = min(len(rest_f), len(rest_i))
            if not _blocks_equal(rest_f.slice(0, k), rest_i.slice(0, k)):
                return False
            rest_f, rest_i = rest_f.slice(k), rest_i.slice(k)
    except (pa.ArrowException, OSError) as e:
        raise ContractError(f"{path}: uid column cannot be read ({e}); the file is truncated or corrupt") from e


def check_alignment(path: str | os.PathLike, index_path: str | os.PathLike) -> None:
    """Raise ContractError unless the file at ``path`` is row-aligned with the pool index.

    The uid columns are compared (:func:`same_uids`); the fingerprint in the file's metadata is not
    trusted, since a re-sorted file or another pool's scores can carry it unchanged.
    """
    path = Path(path)
    pf = open_parquet(path)
    if "uid" not in pf.schema_arrow.names:
        raise ContractError(f"{path}: no 'uid' column; every per-sample file must carry uid")
    key = (_file_key(path), _file_key(index_path))
    if key in _ALIGNED:
        return
    if same_uids(path, index_path):
        _ALIGNED.add(key)
        return
    uids = read_parquet(path, columns=["uid"]).column("uid")
    ref = read_index(index_path, columns=["uid"]).column("uid")
    check_uid_order(path, uids, ref)
    _ALIGNED.add(key)


def check_uid_order(path: Path, uids: pa.ChunkedArray, ref: pa.ChunkedArray) -> None:
    if uids.null_count:
        row = int(pc.index(pc.is_null(uids), True).as_py())
        raise ContractError(f"{path}: uid is missing (null) at row {row}; expected the pool index's uid in every row")
    n_unique = len(pc.unique(uids))
    if n_unique != len(uids):
        counts = pc.value_counts(uids)
        dup = next(v["values"] for v in counts.to_pylist() if v["counts"] > 1)
        raise ContractError(f"{path}: duplicate uid {dup} ({len(uids) - n_unique} duplicate rows); expected each index uid once")
    if len(uids) == len(ref) and pc.all(pc.equal(uids, ref)).as_py():
        return
    have = pc.is_in(ref, value_set=uids.combine_chunks())
    if not pc.all(have).as_py():
        n_missing = len(ref) - pc.sum(have.cast(pa.int64())).as_py()
        first = ref[int(pc.index(have, False).as_py())].as_py()
        raise ContractError(
            f"{path}: {n_missing} uids of the pool index are missing, e.g. {first}; expected one row per index uid "
            "(a file computed for another pool, or for part of this one?)"
        )
    extra = pc.invert(pc.is_in(uids, value_set=ref.combine_chunks()))
    if pc.any(extra).as_py():
        first = uids[int(pc.index(extra, True).as_py())].as_py()
        raise ContractError(f"{path}: uid {first} is not in the pool index; expected only the index's uids")
    neq = pc.not_equal(uids, ref)
    row = int(pc.index(neq, True).as_py())
    raise ContractError(
        f"{path}: rows are out of the pool index order from row {row} "
        f"(uid {uids[row].as_py()}, index has {ref[row].as_py()}); expected the index's row order: "
        "re-order the file's rows by the index's uid column (e.g. a join on uid) and write it again"
    )
