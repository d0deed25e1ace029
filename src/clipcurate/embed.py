"""Image and text embeddings of the pool, one file per chunk of contiguous shards.

``results/embeddings/{model}/{chunk}.parquet`` holds ``uid`` plus L2-normalised ``image`` and
``text`` vectors (fixed-size lists), rows in index order within the chunk. Scores that need only
embeddings (CLIP score and its variants) read these files instead of images, as DataComp's npz
embeddings are used by its baselines.
"""

from __future__ import annotations

import io as _io
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from PIL import Image

from clipcurate import io, models
from clipcurate.pool import shard_path
from clipcurate.reshard import _iter_samples

log = logging.getLogger(__name__)

IMAGE_TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "none": lambda im: im,
    # The Devil paper's cross-modality filter scores horizontally flipped images, so that
    # rendered text stops matching the caption while the visual content stays the same.
    "hflip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


def iter_chunk_samples(index_path, shards_dir, chunk: int, with_place: bool = False) -> Iterator[tuple]:
    """Yield (uid, image bytes, caption) for the chunk's samples in index order; with ``with_place``
    also the shard path and key, so that a bad sample can be named."""
    index = io.read_index(index_path, columns=["uid", "shard", "key", "chunk"])
    index = index.filter(pc.equal(index.column("chunk"), chunk))
    by_shard: dict[int, list[tuple[str, str]]] = {}
    for uid, shard, key in zip(
        index.column("uid").to_pylist(), index.column("shard").to_pylist(), index.column("key").to_pylist()
    ):
        by_shard.setdefault(shard, []).append((key, uid))
    for shard in sorted(by_shard):
        rows = by_shard[shard]
        wanted = {k: u for k, u in rows}
        found = {}
        path = shard_path(shards_dir, shard)
        for key, files in _iter_samples(path):
            if key in wanted:
                found[key] = (files.get("jpg"), files.get("txt", b"").decode("utf-8", "replace"))
        for key, uid in rows:
            if key not in found or found[key][0] is None:
                raise io.ContractError(
                    f"{path}: sample {key} (uid {uid}) is in the index but has no jpg in the shard; expected every "
                    "indexed sample. The shard was replaced or cut short: rerun the download and the pool index"
                )
            yield (uid, found[key][0], found[key][1], path, key) if with_place else (uid, found[key][0], found[key][1])


def decode_image(jpg: bytes, where: str) -> Image.Image | None:
    """The RGB image, or None (with a warning naming ``where``) if the bytes do not decode.

    A corrupt or truncated image is counted and skipped by the caller, never fatal.
    """
    try:
        with Image.open(_io.BytesIO(jpg)) as im:
            return im.convert("RGB")  # convert() loads every pixel, so a truncated file fails here
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        log.warning("%s: corrupt image skipped (%s: %s)", where, type(e).__name__, e)
        return None


@torch.no_grad()
def embed_chunk(
    index_path,
    shards_dir,
    chunk: int,
    model_spec: Mapping,
    out_path,
    batch_size: int = 256,
    image_transform: str = "none",
    dtype: str = "float32",
) -> dict:
    """Embed one chunk and write the embedding parquet; returns throughput figures."""
    t0 = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, preprocess, tokenizer = models.load_model(model_spec, device=device)
    flip = IMAGE_TRANSFORMS[image_transform]
    uids, img_out, txt_out = [], [], []
    batch_imgs, batch_txts = [], []

    def flush():
        images = torch.stack(batch_imgs).to(device)
        texts = tokenizer(batch_txts).to(device)
        with torch.autocast(device_type=device, enabled=device == "cuda"):
            fi = model.encode_image(images, normalize=True)
            ft = model.encode_text(texts, normalize=True)
        img_out.append(fi.float().cpu().numpy())
        txt_out.append(ft.float().cpu().numpy())
        batch_imgs.clear()
        batch_txts.clear()

    n = 0
    corrupt: list[str] = []  # uids whose image did not decode: their image embedding is zero
    blank = None
    for uid, jpg, caption, shard, key in iter_chunk_samples(index_path, shards_dir, chunk, with_place=True):
        im = decode_image(jpg, f"{shard}: sample {key} (uid {uid})")
        if im is None:
            corrupt.append(uid)
            if blank is None:
                blank = torch.zeros_like(preprocess(Image.new("RGB", (8, 8))))
            batch_imgs.append(blank)
        else:
            batch_imgs.append(preprocess(flip(im)))
        batch_txts.append(caption)
        uids.append(uid)
        n += 1
        if len(batch_imgs) == batch_size:
            flush()
            if n % (batch_size * 20) == 0:
                dt = time.time() - t0
                log.info("chunk %d: %d samples, %.0f samples/s", chunk, n, n / dt)
    if batch_imgs:
        flush()
    dim = img_out[0].shape[1] if img_out else 0
    np_dtype = np.float16 if dtype == "float16" else np.float32
    image = np.concatenate(img_out).astype(np_dtype) if img_out else np.zeros((0, dim), np_dtype)
    if corrupt:
        # A sample stays in the file (rows follow the index) with a zero image embedding: its CLIP
        # score is 0, below any decodable pair, and the count is reported in the file and the log.
        bad = set(corrupt)
        image[[i for i, u in enumerate(uids) if u in bad]] = 0
        log.warning("chunk %d: %d corrupt images skipped (zero image embedding), e.g. uid %s", chunk, len(corrupt), corrupt[0])
    text = np.concatenate(txt_out).astype(np_dtype) if txt_out else np.zeros((0, dim), np_dtype)
    table = pa.table(
        {
            "uid": pa.array(uids, pa.string()),
            "image": pa.FixedSizeListArray.from_arrays(pa.array(image.reshape(-1)), dim),
            "text": pa.FixedSizeListArray.from_arrays(pa.array(text.reshape(-1)), dim),
        }
    )
    table = table.replace_schema_metadata({b"clipcurate.corrupt_images": json.dumps(corrupt).encode()})
    io.write_table(table, out_path)
    dt = time.time() - t0
    return {"chunk": chunk, "samples": n, "corrupt_images": len(corrupt), "seconds": round(dt, 2), "samples_per_second": round(n / dt, 1) if dt else None}


def read_embeddings(path, columns=("image", "text")) -> dict[str, np.ndarray]:
    """Read an embedding file: ``uid`` (list) plus (N, d) float32 arrays per requested column."""
    path = Path(path)
    if not path.exists():
        raise io.ContractError(f"{path}: embedding file not found")
    t = io.read_parquet(path, columns=["uid", *columns], what="embedding file")
    out: dict = {"uid": t.column("uid")}
    for c in columns:
        col = t.column(c).combine_chunks()
        dim = col.type.list_size
        out[c] = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)
    return out
