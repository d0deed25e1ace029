"""The pool index: one row per downloaded sample, in the canonical order every per-sample file follows.

The index is a parquet table whose ``uid`` column fixes the row order of the whole workflow; its
metadata carries the sha256 of that column (:func:`~clipcurate.core.uidcodec.uid_fingerprint`)
under :data:`~clipcurate.core.fileio.FINGERPRINT_KEY`. The readers here fail with a
:class:`~clipcurate.core.fileio.ContractError` naming the index file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pyarrow as pa

from clipcurate.core.fileio import FINGERPRINT_KEY, ContractError, open_parquet, read_parquet

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
