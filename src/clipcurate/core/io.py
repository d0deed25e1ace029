"""Shared file formats and their checks (docs/architecture.md, section 3).

Every per-sample file of the workflow is a parquet table with a ``uid`` column (32 lower-case hex
characters, DataComp's encoding) whose rows follow the pool index's canonical order. This module
writes those files atomically, reads them back with the alignment checks the contract asks for,
and converts uids to DataComp's ``u8,u8`` subset format.

Alignment is checked by comparing the file's uid column with the index's, row by row, every time:
a file written by this workflow also carries the index fingerprint (sha256 of the index's uid
column) in its parquet metadata, but metadata survives a re-sort or a copy of another pool's uids
into the file, so it is recorded for provenance and never trusted as proof. The comparison streams
both uid columns in blocks and compares their raw bytes (offsets and characters) with numpy, so it
holds two blocks in memory, not two 128M-row columns (``benchmarks/bench_alignment.py`` measures
it); a pair of files already compared in this process (same size and modification time) is not
compared again. A mismatch is diagnosed as missing, duplicate or out-of-order uids.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FINGERPRINT_KEY = b"clipcurate.index_sha256"
SUBSET_DTYPE = np.dtype("u8,u8")


class ContractError(ValueError):
    """A file breaks a contract between stages; the message names the file and what was expected."""


# --------------------------------------------------------------------------------------------
# atomic writes


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted job therefore never leaves a file that looks complete, and a failed rewrite
    leaves the previous version of ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.is_file():  # mkstemp creates 0600; give the output the mode a plain open() would
            os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_table(table: pa.Table, path: str | os.PathLike, fingerprint: str | None = None) -> None:
    """Write ``table`` as parquet atomically, recording the index fingerprint it is aligned to."""
    if fingerprint is not None:
        meta = dict(table.schema.metadata or {})
        meta[FINGERPRINT_KEY] = fingerprint.encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, row_group_size=1 << 20)


# --------------------------------------------------------------------------------------------
# reading parquet with errors that name the file


def open_parquet(path: str | os.PathLike, what: str = "parquet file") -> pq.ParquetFile:
    """``pq.ParquetFile(path)``, or a ContractError naming the file when it is missing, empty or
    not a readable parquet file (e.g. cut short by an interrupted copy: the footer is at the end)."""
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: {what} not found")
    if path.stat().st_size == 0:
        raise ContractError(f"{path}: {what} is empty (0 bytes); expected a parquet file. Delete it and rerun the step that writes it")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise ContractError(
            f"{path}: {what} is not a readable parquet file ({e}); it is truncated or corrupt. "
            "Delete it and rerun the step that writes it"
        ) from e


def read_parquet(path: str | os.PathLike, columns: Sequence[str] | None = None, what: str = "parquet file") -> pa.Table:
    """Read ``columns`` of a parquet file; every failure is a ContractError naming the file, and a
    missing column names the columns the file has."""
    pf = open_parquet(path, what)
    if columns is not None:
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise ContractError(f"{path}: {what} has no column {missing[0]!r}; it has {pf.schema_arrow.names}")
    try:
        return pf.read(columns=list(columns) if columns is not None else None)
    except (pa.ArrowException, OSError) as e:
        raise ContractError(f"{path}: {what} cannot be read ({e}); it is truncated or corrupt") from e


def check_complete_tar(path) -> None:
    """Raise ContractError naming ``path`` unless it ends like a complete tar (whole 512-byte blocks,
    the two zero blocks of the end-of-archive marker).

    Reads 1 KiB. webdataset reads tars as streams, and a stream cut short simply ends, as does
    ``tarfile`` when the cut falls between members: without this check a truncated shard would lose
    its last samples silently.
    """
    path = Path(path)
    size = path.stat().st_size
    if size < 1024 or size % 512:
        raise ContractError(
            f"{path}: shard is truncated ({size} bytes, not whole 512-byte tar blocks); expected a complete "
            "webdataset tar. Delete the shard and rerun the step that wrote it"
        )
    with open(path, "rb") as f:
        f.seek(size - 1024)
        if any(f.read(1024)):
            raise ContractError(
                f"{path}: shard is truncated (no end-of-archive marker); expected a complete webdataset tar. "
                "Delete the shard and rerun the step that wrote it"
            )


# --------------------------------------------------------------------------------------------
# uids


def uid_fingerprint(uids: pa.Array | pa.ChunkedArray | Sequence[str]) -> str:
    """sha256 of the uid column in order: equal fingerprints mean identical row order."""
    arr = pa.chunked_array([uids]) if not isinstance(uids, (pa.Array, pa.ChunkedArray)) else uids
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    h = hashlib.sha256()
    for chunk in arr.chunks:
        chunk = chunk.cast(pa.string())
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2]
        if data is not None:
            h.update(memoryview(data)[offsets[0] : offsets[-1]])
        h.update(np.diff(offsets).astype(np.int32).tobytes())
    return h.hexdigest()


def uids_to_pairs(uids: pa.Array | pa.ChunkedArray | Sequence[str] | np.ndarray) -> np.ndarray:
    """32-hex uids -> structured ``u8,u8`` array (f0 = high 64 bits, f1 = low 64 bits), DataComp's encoding."""
    if isinstance(uids, (pa.Array, pa.ChunkedArray)):
        arr = uids.to_numpy(zero_copy_only=False)
    else:
        arr = np.asarray(uids)
    raw = np.asarray(arr, dtype="S32")
    if raw.size and (np.char.str_len(raw) != 32).any():
        bad = raw[np.char.str_len(raw) != 32][0]
        raise ContractError(f"uid {bad!r} is not 32 hex characters")
    chars = raw.view(np.uint8).reshape(-1, 32)
    # vectorised hex decoding: '0'-'9' -> 0-9, 'a'-'f'/'A'-'F' -> 10-15
    nib = chars.astype(np.int16)
    nib = np.where(nib >= 97, nib - 87, np.where(nib >= 65, nib - 55, nib - 48))
    if raw.size and ((nib < 0) | (nib > 15)).any():
        row = int(np.nonzero(((nib < 0) | (nib > 15)).any(axis=1))[0][0])
        raise ContractError(f"uid {raw[row]!r} is not hexadecimal")
    nib = nib.astype(np.uint64)
    weights = (np.uint64(1) << (np.arange(15, -1, -1, dtype=np.uint64) * np.uint64(4)))
    out = np.empty(len(raw), dtype=SUBSET_DTYPE)
    out["f0"] = (nib[:, :16] * weights).sum(axis=1, dtype=np.uint64)
    out["f1"] = (nib[:, 16:] * weights).sum(axis=1, dtype=np.uint64)
    return out


def pairs_to_uids(pairs: np.ndarray) -> list[str]:
    return [f"{int(hi):016x}{int(lo):016x}" for hi, lo in zip(pairs["f0"], pairs["f1"])]


# --------------------------------------------------------------------------------------------
# the pool index


def read_index(path: str | os.PathLike, columns: Sequence[str] | None = None) -> pa.Table:
    """Read the pool index (one row per downloaded sample, canonical order)."""
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: pool index not found (run the pool stage first)")
    return read_parquet(path, columns=list(columns) if columns else None, what="pool index")


def index_fingerprint(path: str | os.PathLike) -> str:
    meta = open_parquet(path, "pool index").schema_arrow.metadata or {}
    if FINGERPRINT_KEY not in meta:
        raise ContractError(f"{path}: pool index has no fingerprint in its metadata; rebuild it")
    return meta[FINGERPRINT_KEY].decode()


def index_num_rows(path: str | os.PathLike) -> int:
    return open_parquet(path, "pool index").metadata.num_rows


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

    Files written by :func:`write_table` share the index's row groups; those are compared in
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


# --------------------------------------------------------------------------------------------
# score files


#: the largest repeat count a file stores: ``count`` columns (score files, subsets) are uint32.
MAX_COUNT = 2**32 - 1


def check_counts(values, where: str) -> np.ndarray:
    """A ``count`` column (repeat counts: how many times each sample enters the training set), checked:
    1-D, integer dtype (not boolean, not float: 2.5 copies mean nothing), every value in
    ``[0, MAX_COUNT]``. Returns it as uint32. The error names ``where`` (a file or score and the
    column), the first offending row and its value."""
    c = np.asarray(values)
    if c.ndim != 1:
        raise ContractError(f"{where}: expected a 1-D column of repeat counts, got shape {c.shape}")
    if c.dtype == np.bool_ or not np.issubdtype(c.dtype, np.integer):
        raise ContractError(f"{where}: expected non-negative integer repeat counts, got dtype {c.dtype}")
    if c.size:
        bad = (c > MAX_COUNT) if c.dtype == np.uint64 else (c.astype(np.int64, copy=False) < 0) | (c > MAX_COUNT)
        if bad.any():
            row = int(np.argmax(bad))
            raise ContractError(f"{where}: row {row} has count {int(c[row])}; expected an integer in [0, {MAX_COUNT}]")
    return c.astype(np.uint32, copy=False)


def write_scores(
    path: str | os.PathLike,
    uids: pa.Array | pa.ChunkedArray,
    columns: Mapping[str, np.ndarray],
    fingerprint: str | None,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a score file: uid + float32 columns (bool columns such as ``keep`` stay boolean, and
    ``count``, repeat counts, is uint32: :func:`check_counts`)."""
    arrays = {"uid": uids}
    for name, values in columns.items():
        values = np.asarray(values)
        if name == "count":
            values = check_counts(values, f"{path}: column 'count'")
        elif values.dtype != np.bool_:
            values = values.astype(np.float32, copy=False)
        if len(values) != len(uids):
            raise ContractError(f"{path}: column {name!r} has {len(values)} rows, uid has {len(uids)}")
        arrays[name] = pa.array(values)
    table = pa.table(arrays)
    if metadata:
        table = table.replace_schema_metadata({**{k.encode(): v.encode() for k, v in metadata.items()}})
    write_table(table, path, fingerprint=fingerprint)


def score_columns(path: str | os.PathLike) -> list[str]:
    return [n for n in open_parquet(path, "score file").schema_arrow.names if n != "uid"]


def _check_column_type(path: Path, name: str, typ: pa.DataType) -> None:
    """``keep`` must be boolean (a float 0.9 would truncate to 0, an int 3 would repeat a sample 3
    times); ``count`` (repeat counts) must be integer; every other score column must be numeric."""
    if name == "keep":
        if not pa.types.is_boolean(typ):
            raise ContractError(
                f"{path}: column 'keep' has type {typ}; expected boolean (true = keep the sample). "
                "Write it as a bool column, e.g. keep = score > threshold"
            )
    elif name == "count":
        if not pa.types.is_integer(typ):
            raise ContractError(
                f"{path}: column 'count' has type {typ}; expected integer repeat counts (how many times each "
                "sample enters the training set, >= 0), e.g. uint32"
            )
    elif not (pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_boolean(typ)):
        raise ContractError(f"{path}: column {name!r} has type {typ}; expected a numeric (float) score column")


def read_scores(
    path: str | os.PathLike,
    index_path: str | os.PathLike,
    columns: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Read score columns after checking alignment with the index and finiteness of every value.

    Returns a dict column -> numpy array (float32, bool, or uint32 for ``count``), in index order.
    """
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: score file not found")
    schema = open_parquet(path, "score file").schema_arrow
    if "uid" not in schema.names:
        raise ContractError(f"{path}: no 'uid' column; every per-sample file must carry uid")
    available = [n for n in schema.names if n != "uid"]
    wanted = list(columns) if columns else available
    for c in wanted:
        if c not in available:
            raise ContractError(f"{path}: no column {c!r}; it has {available}")
        _check_column_type(path, c, schema.field(c).type)
    check_alignment(path, index_path)
    table = read_parquet(path, columns=wanted, what="score file")
    out = {}
    for c in wanted:
        col = table.column(c)
        if col.null_count:
            row = int(pc.index(pc.is_null(col), True).as_py())
            raise ContractError(f"{path}: column {c!r} is null at row {row}")
        values = col.to_numpy()
        if c == "count":
            values = check_counts(values, f"{path}: column 'count'")
        elif values.dtype != np.bool_:
            finite = np.isfinite(values)
            if not finite.all():
                row = int(np.argmin(finite))
                raise ContractError(
                    f"{path}: column {c!r} has a non-finite value ({values[row]}) at row {row}; "
                    "scores must be finite floats"
                )
        out[c] = values
    return out


# --------------------------------------------------------------------------------------------
# subsets


def write_subset(
    parquet_path: str | os.PathLike,
    npy_path: str | os.PathLike | None,
    uids: pa.Array | pa.ChunkedArray,
    counts: np.ndarray,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write a subset: parquet (uid, count >= 1) and DataComp's sorted ``u8,u8`` npy with repeats."""
    counts = np.asarray(counts, dtype=np.int64)
    keep = counts > 0
    uids = pc.filter(uids, pa.array(keep))
    counts = counts[keep]
    table = pa.table({"uid": uids, "count": pa.array(counts.astype(np.uint32))})
    if metadata:
        table = table.replace_schema_metadata({k.encode(): str(v).encode() for k, v in metadata.items()})
    if npy_path is not None:
        pairs = uids_to_pairs(uids)
        order = np.argsort(pairs, order=("f0", "f1"), kind="stable")
        expanded = np.repeat(pairs[order], counts[order])
        with atomic_path(npy_path, suffix=".npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, expanded)
    write_table(table, parquet_path)


def read_subset(path: str | os.PathLike) -> pa.Table:
    path = Path(path)
    if not path.exists():
        raise ContractError(f"{path}: subset not found")
    table = read_parquet(path, what="subset")
    if table.column_names[:2] != ["uid", "count"]:
        raise ContractError(f"{path}: a subset has columns uid, count; found {table.column_names}")
    return table


def iter_batches(path: str | os.PathLike, columns: Iterable[str] | None = None, batch_size: int = 1 << 20):
    pf = open_parquet(path)
    yield from pf.iter_batches(batch_size=batch_size, columns=list(columns) if columns else None)
