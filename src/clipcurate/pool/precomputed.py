"""DataComp's precomputed OpenAI CLIP embeddings as the pool's embedding files.

Every DataComp metadata parquet ``<hash>.parquet`` has a ``<hash>.npz`` beside it whose arrays are
row-aligned with the parquet by position: ``b32_img``/``b32_txt`` (OpenAI ViT-B/32, 512-d) and
``l14_img``/``l14_txt`` (OpenAI ViT-L/14, 768-d), L2-normalised (stored as float16, so only to
about 1e-3). A model spec with ``precomputed: b32`` (or ``l14``) makes the embed step write
``results/embeddings/{model}/{chunk}.parquet`` from these arrays instead of embedding 128M images.

Two steps keep this linear in the pool size:

1. :func:`build_row_map` (one job): for every row of the pool index, the metadata file and row its
   uid comes from, found by a sorted join on the 128-bit uids (no per-uid Python work). The map is
   row-aligned with the index and carries its ``chunk``.
2. :func:`write_chunk_embeddings` (one job per chunk): reads only that chunk's rows of the map,
   opens only the npz files they point into, and takes those rows.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clipcurate.core import fileio, poolindex, uidcodec
from clipcurate.pool import metadata_check

log = logging.getLogger(__name__)

#: the npz arrays (image, text) of each precomputed model
NPZ_KEYS = {"b32": ("b32_img", "b32_txt"), "l14": ("l14_img", "l14_txt")}
#: uids decoded per batch: hex decoding takes ~600 bytes per uid while it runs
_BATCH = 1 << 18


def _file_meta(path: Path) -> dict:
    raw = (pq.read_schema(path).metadata or {}).get(b"clipcurate.metadata_files")
    if raw is None:
        raise fileio.ContractError(f"{path}: no clipcurate.metadata_files entry in its schema metadata; not a row map")
    return json.loads(raw)


def build_row_map(index_path, metadata_dir, out_path) -> dict:
    """For each index row: the metadata file (``file``: position in the sorted file list, stored in
    the map's schema metadata with each file's row count) and ``row`` its uid comes from.

    Every index uid must occur in the metadata (the shards were downloaded from it); an index uid
    that does not is an error naming it.
    """
    t0 = time.time()
    metadata_dir = Path(metadata_dir)
    files = sorted(metadata_dir.glob("*.parquet"))
    if not files:
        raise fileio.ContractError(f"{metadata_dir}: no metadata parquet files")
    his, los, fids, rows, counts = [], [], [], [], []
    for fid, f in enumerate(files):
        t = fileio.read_parquet(f, ["uid"], "metadata parquet")
        metadata_check.check_table(f, t)  # a malformed uid names the file and row
        uids = t.column("uid")
        for start in range(0, len(uids), _BATCH):  # batches bound the temporary memory of decoding
            pairs = uidcodec.uids_to_pairs(uids.slice(start, _BATCH))
            his.append(pairs["f0"])
            los.append(pairs["f1"])
        fids.append(np.full(len(uids), fid, np.int32))
        rows.append(np.arange(len(uids), dtype=np.int64))
        counts.append(len(uids))
    hi, lo = np.concatenate(his), np.concatenate(los)
    del his, los
    order = np.lexsort((lo, hi))
    hi, lo = hi[order], lo[order]
    fid, row = np.concatenate(fids)[order], np.concatenate(rows)[order]
    del fids, rows, order

    index = poolindex.read_index(index_path, columns=["uid", "chunk"])
    uids = index.column("uid")
    out_fid = np.empty(len(uids), np.int32)
    out_row = np.empty(len(uids), np.int64)
    for start in range(0, len(uids), _BATCH):  # batches bound the temporary memory of decoding
        q = uidcodec.uids_to_pairs(uids.slice(start, _BATCH))
        left = np.searchsorted(hi, q["f0"], side="left")
        right = np.searchsorted(hi, q["f0"], side="right")
        pos = np.minimum(left, len(hi) - 1)
        ok = (right - left == 1) & (lo[pos] == q["f1"])
        for i in np.nonzero(~ok)[0]:  # a shared upper half (practically never) or a uid not in the metadata
            run = np.nonzero(lo[left[i] : right[i]] == q["f1"][i])[0]
            if len(run) == 0:
                raise fileio.ContractError(
                    f"{index_path}: uid {uids[start + int(i)].as_py()} (index row {start + int(i)}) is in no "
                    f"metadata parquet of {metadata_dir}; the shards were downloaded from other metadata"
                )
            pos[i] = left[i] + run[0]
        out_fid[start : start + len(q)] = fid[pos]
        out_row[start : start + len(q)] = row[pos]
    table = pa.table({
        "uid": index.column("uid"),
        "chunk": index.column("chunk"),
        "file": pa.array(out_fid, pa.int32()),
        "row": pa.array(out_row, pa.int64()),
    })
    meta = {"files": [f.name for f in files], "rows": counts}
    table = table.replace_schema_metadata({b"clipcurate.metadata_files": json.dumps(meta).encode()})
    fileio.write_table(table, out_path)  # row groups of 2^20 rows: a chunk's rows are read without a full scan
    return {"index_rows": table.num_rows, "metadata_files": len(files), "metadata_rows": int(sum(counts)),
            "seconds": round(time.time() - t0, 2)}


def read_chunk_rows(map_path, chunk: int) -> tuple[pa.Table, dict]:
    """The map's rows of one chunk (row groups of other chunks are skipped) and its file list."""
    map_path = Path(map_path)
    if not map_path.exists():
        raise fileio.ContractError(f"{map_path}: metadata row map not found")
    meta = _file_meta(map_path)
    t = pq.read_table(map_path, filters=[("chunk", "=", int(chunk))])
    return t, meta


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float32 (DataComp stores them normalised in float16)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def load_npz_rows(npz_path: Path, keys: tuple[str, str], rows: np.ndarray, expected_rows: int):
    """Rows ``rows`` of the two arrays ``keys`` of one npz; checks the arrays' row count."""
    if not npz_path.exists():
        raise fileio.ContractError(f"{npz_path}: DataComp embeddings not found (every metadata parquet needs its .npz)")
    out = []
    with np.load(npz_path) as z:
        for key in keys:
            if key not in z.files:
                raise fileio.ContractError(f"{npz_path}: no array {key!r}; it has {sorted(z.files)}")
            arr = z[key]
            if arr.ndim != 2 or arr.shape[0] != expected_rows:
                raise fileio.ContractError(
                    f"{npz_path}: {key} has shape {arr.shape}, expected ({expected_rows}, d): one row per "
                    f"row of {npz_path.with_suffix('.parquet').name}, in the same order"
                )
            out.append(arr[rows])
    return out


def write_chunk_embeddings(map_path, metadata_dir, chunk: int, which: str, out_path, dtype: str = "float32") -> dict:
    """Write one chunk's embedding file (uid + L2-normalised ``image``/``text``, index order) from the
    npz arrays of ``which`` (``b32`` or ``l14``)."""
    if which not in NPZ_KEYS:
        raise ValueError(f"precomputed embeddings {which!r}: expected one of {sorted(NPZ_KEYS)}")
    t0 = time.time()
    rows, meta = read_chunk_rows(map_path, chunk)
    metadata_dir = Path(metadata_dir)
    fids = rows.column("file").to_numpy()
    positions = rows.column("row").to_numpy()
    n = rows.num_rows
    image = text = None
    for fid in np.unique(fids):
        sel = np.nonzero(fids == fid)[0]
        npz = metadata_dir / (Path(meta["files"][fid]).stem + ".npz")
        img, txt = load_npz_rows(npz, NPZ_KEYS[which], positions[sel], meta["rows"][fid])
        if image is None:
            image = np.empty((n, img.shape[1]), np.float32)
            text = np.empty((n, txt.shape[1]), np.float32)
        image[sel], text[sel] = normalise(img), normalise(txt)
    dim = image.shape[1] if image is not None else 0
    np_dtype = np.float16 if dtype == "float16" else np.float32
    image = (image if image is not None else np.zeros((0, 0))).astype(np_dtype)
    text = (text if text is not None else np.zeros((0, 0))).astype(np_dtype)
    table = pa.table({
        "uid": rows.column("uid").cast(pa.string()),
        "image": pa.FixedSizeListArray.from_arrays(pa.array(image.reshape(-1)), dim),
        "text": pa.FixedSizeListArray.from_arrays(pa.array(text.reshape(-1)), dim),
    })
    fileio.write_table(table, out_path)
    return {"chunk": int(chunk), "samples": n, "npz_files": int(len(np.unique(fids))),
            "seconds": round(time.time() - t0, 2)}
