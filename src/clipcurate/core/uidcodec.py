"""Sample uids and their encodings: the fingerprint of a uid column, DataComp's ``u8,u8`` pairs.

A uid is 32 lower-case hex characters (DataComp's encoding of a sample). DataComp's subset files
(``.npy``) store each uid as two unsigned 64-bit integers (:data:`SUBSET_DTYPE`, high then low
half); :func:`uids_to_pairs` and :func:`pairs_to_uids` convert. :func:`uid_fingerprint` hashes a
uid column in order, so equal fingerprints mean identical row order (the pool index records its
own). No file is read or written here.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
import pyarrow as pa

from clipcurate.core.fileio import ContractError

SUBSET_DTYPE = np.dtype("u8,u8")


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
