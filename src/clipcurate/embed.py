"""Image and text embeddings of the pool, one file per chunk of contiguous shards.

``results/embeddings/{model}/{chunk}.parquet`` holds ``uid`` plus L2-normalised ``image`` and
``text`` vectors (fixed-size lists), rows in index order within the chunk. Scores that need only
embeddings (CLIP score and its variants) read these files instead of images, as DataComp's npz
embeddings are used by its baselines.

An image *variant* embeds transformed images with the same captions:
``results/embeddings/{model}/{variant}/{chunk}.parquet``; ``hflip`` flips each image left-right
before preprocessing (the Devil paper's flipped CLIP score). Reference sets (the world's
``reference/<set>`` shards or a user's) are embedded whole by :func:`embed_reference`, with their
``cls`` labels when present.
"""

from __future__ import annotations

import io as _io
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from PIL import Image

from clipcurate import io, models
from clipcurate.pool import shard_path
from clipcurate.reshard import _iter_samples

log = logging.getLogger(__name__)

IMAGE_TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "plain": lambda im: im,
    # The Devil paper's cross-modality filter scores horizontally flipped images, so that
    # rendered text stops matching the caption while the visual content stays the same.
    "hflip": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


def iter_chunk_samples(index_path, shards_dir, chunk: int) -> Iterator[tuple[str, bytes, str]]:
    """Yield (uid, image bytes, caption) for the chunk's samples in index order."""
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
        for key, files in _iter_samples(shard_path(shards_dir, shard)):
            if key in wanted:
                found[key] = (files.get("jpg"), files.get("txt", b"").decode("utf-8", "replace"))
        for key, uid in rows:
            if key not in found or found[key][0] is None:
                raise io.ContractError(f"{shard_path(shards_dir, shard)}: sample {key} (uid {uid}) is in the index but not in the shard")
            yield uid, found[key][0], found[key][1]


def _embedding_table(keys: list, key_name: str, img_out: list, txt_out: list, dtype: str, extra: Mapping | None = None) -> pa.Table:
    dim = img_out[0].shape[1] if img_out else 0
    np_dtype = np.float16 if dtype == "float16" else np.float32
    image = np.concatenate(img_out).astype(np_dtype) if img_out else np.zeros((0, dim), np_dtype)
    text = np.concatenate(txt_out).astype(np_dtype) if txt_out else np.zeros((0, dim), np_dtype)
    cols = {
        key_name: pa.array(keys, pa.string()),
        "image": pa.FixedSizeListArray.from_arrays(pa.array(image.reshape(-1)), dim),
        "text": pa.FixedSizeListArray.from_arrays(pa.array(text.reshape(-1)), dim),
    }
    cols.update(extra or {})
    return pa.table(cols)


@torch.no_grad()
def _embed_samples(samples: Iterator[tuple[str, bytes, str]], model_spec: Mapping, batch_size: int, variant: str, what: str):
    """Embed (key, image bytes, caption) samples; returns keys and lists of image/text batches."""
    if variant not in IMAGE_TRANSFORMS:
        raise ValueError(f"image variant {variant!r} is not available; available: {sorted(IMAGE_TRANSFORMS)}")
    t0 = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, preprocess, tokenizer = models.load_model(model_spec, device=device)
    transform = IMAGE_TRANSFORMS[variant]
    keys, img_out, txt_out = [], [], []
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
    for key, jpg, caption in samples:
        im = Image.open(_io.BytesIO(jpg)).convert("RGB")
        batch_imgs.append(preprocess(transform(im)))
        batch_txts.append(caption)
        keys.append(key)
        n += 1
        if len(batch_imgs) == batch_size:
            flush()
            if n % (batch_size * 20) == 0:
                dt = time.time() - t0
                log.info("%s: %d samples, %.0f samples/s", what, n, n / dt)
    if batch_imgs:
        flush()
    return keys, img_out, txt_out


def embed_chunk(
    index_path,
    shards_dir,
    chunk: int,
    model_spec: Mapping,
    out_path,
    batch_size: int = 256,
    image_transform: str = "plain",
    dtype: str = "float32",
) -> dict:
    """Embed one chunk (``image_transform``: the image variant) and write the embedding parquet;
    returns throughput figures."""
    t0 = time.time()
    samples = iter_chunk_samples(index_path, shards_dir, chunk)
    uids, img_out, txt_out = _embed_samples(samples, model_spec, batch_size, image_transform, f"chunk {chunk}")
    io.write_table(_embedding_table(uids, "uid", img_out, txt_out, dtype), out_path)
    dt = time.time() - t0
    n = len(uids)
    return {"chunk": chunk, "variant": image_transform, "samples": n, "seconds": round(dt, 2),
            "samples_per_second": round(n / dt, 1) if dt else None}


def iter_reference_samples(set_dir) -> Iterator[tuple[str, bytes, str, int | None]]:
    """(key, image bytes, caption, label or None) of a reference set's shards, in shard and key order."""
    set_dir = Path(set_dir)
    shards = sorted(set_dir.glob("*.tar"))
    if not shards:
        raise io.ContractError(f"{set_dir}: no .tar shards in the reference set")
    for shard in shards:
        for key, files in _iter_samples(shard):
            img = files.get("jpg") or files.get("png") or files.get("jpeg") or files.get("webp")
            if img is None:
                raise io.ContractError(f"{shard}: sample {key} has no image (jpg/png/jpeg/webp)")
            caption = (files.get("txt") or b"").decode("utf-8", "replace")
            label = int(files["cls"].decode().strip()) if "cls" in files else None
            yield f"{shard.stem}/{key}", img, caption, label


def embed_reference(set_dir, model_spec: Mapping, out_path, batch_size: int = 256, dtype: str = "float32") -> dict:
    """Embed a whole reference set: ``key`` (shard/key), image, text and ``label`` (null when unlabelled)."""
    t0 = time.time()
    labels: list = []

    def samples():
        for key, img, caption, label in iter_reference_samples(set_dir):
            labels.append(label)
            yield key, img, caption

    keys, img_out, txt_out = _embed_samples(samples(), model_spec, batch_size, "plain", str(set_dir))
    if any(lab is None for lab in labels) and any(lab is not None for lab in labels):
        raise io.ContractError(f"{set_dir}: some samples have a cls label and some do not")
    label = pa.array(labels, pa.int64())
    io.write_table(_embedding_table(keys, "key", img_out, txt_out, dtype, {"label": label}), out_path)
    dt = time.time() - t0
    return {"set": str(set_dir), "samples": len(keys), "labelled": bool(labels) and labels[0] is not None, "seconds": round(dt, 2)}


def read_embeddings(path, columns=("image", "text")) -> dict[str, np.ndarray]:
    """Read an embedding file: ``uid`` (``key`` for a reference set) plus (N, d) float32 arrays per column."""
    path = Path(path)
    if not path.exists():
        raise io.ContractError(f"{path}: embedding file not found")
    key = "uid" if "uid" in pq.read_schema(path).names else "key"  # reference sets have keys, not uids
    t = pq.read_table(path, columns=[key, *columns])
    out: dict = {key: t.column(key)}
    for c in columns:
        col = t.column(c).combine_chunks()
        dim = col.type.list_size
        out[c] = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)
    return out
