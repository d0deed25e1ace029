"""The score and subset file formats: repeat counts, score files, subsets.

A score file is the pool index's uids plus float32 score columns, a boolean ``keep`` and uint32
``count`` (repeat counts: :func:`check_counts`), row-aligned with the index; :func:`read_scores`
checks that alignment (:func:`~clipcurate.core.alignment.check_alignment`), each column's type and
that every value is finite. A subset is a parquet table (``uid``, ``count`` >= 1) and, for
DataComp's tools, a sorted ``u8,u8`` npy with repeats (:mod:`~clipcurate.core.uidcodec`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clipcurate.core.alignment import check_alignment
from clipcurate.core.fileio import ContractError, atomic_path, open_parquet, read_parquet, write_table
from clipcurate.core.uidcodec import uids_to_pairs

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
