"""Writing and reading the workflow's files: atomic writes, JSON, parquet, tar completeness.

Every output is written under a temporary name beside its path and renamed onto it only when the
write succeeded (:func:`atomic_path`), so an interrupted job never leaves a file that looks
complete. Parquet files are opened and read through :func:`open_parquet` / :func:`read_parquet`,
whose failures (a missing, empty, truncated file; a missing column) are a :class:`ContractError`
that names the file and what was expected. :class:`ContractError` is the error of every file
contract between stages (:mod:`~clipcurate.core.uidcodec`, :mod:`~clipcurate.core.poolindex`,
:mod:`~clipcurate.core.alignment`, :mod:`~clipcurate.core.scorefiles` raise it too).

A per-sample parquet file written with an index fingerprint carries it in its metadata under
:data:`FINGERPRINT_KEY` (:mod:`~clipcurate.core.poolindex` reads the index's own); it is recorded
for provenance, never trusted as proof of alignment (:mod:`~clipcurate.core.alignment`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FINGERPRINT_KEY = b"clipcurate.index_sha256"


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
