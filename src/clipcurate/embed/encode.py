"""Image and text embeddings of the pool, one file per chunk of contiguous shards.

``results/embeddings/{model}/{chunk}.parquet`` holds ``uid`` plus L2-normalised ``image`` and
``text`` vectors (fixed-size lists), rows in index order within the chunk. Scores that need only
embeddings (CLIP score and its variants) read these files instead of images, as DataComp's npz
embeddings are used by its baselines.

An image *variant* (one module each in :mod:`clipcurate.embed.variants`, e.g. ``hflip``: each image
flipped left-right, the Devil paper's flipped CLIP score) embeds transformed images only:
``results/embeddings/{model}/{variant}/{chunk}.parquet`` holds ``uid`` and ``image``; the captions'
vectors are the plain file's, which the score runner pairs with them. Reference sets (the world's
``reference/<set>`` shards or a user's) are embedded whole by :func:`embed_reference`, with their
``cls`` labels when present.
"""

from __future__ import annotations

import io as _io
import json
import logging
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from PIL import Image

from clipcurate.core import fileio, poolindex
from clipcurate.embed import models, variants
from clipcurate.pool.download import shard_path
from clipcurate.core.progress import progress
from clipcurate.pool.reshard import _iter_samples

log = logging.getLogger(__name__)


def iter_chunk_samples(index_path, shards_dir, chunk: int, with_place: bool = False) -> Iterator[tuple]:
    """Yield (uid, image bytes, caption) for the chunk's samples in index order; with ``with_place``
    also the shard path and key, so that a bad sample can be named."""
    index = poolindex.read_index(index_path, columns=["uid", "shard", "key", "chunk"])
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
                raise fileio.ContractError(
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


def _embedding_table(keys: list, key_name: str, img_out: list, txt_out: list, dtype: str, extra: Mapping | None = None,
                     corrupt: list | None = None) -> pa.Table:
    """The embedding file's table. A sample whose image did not decode (``corrupt``: its keys) keeps
    its row, so rows still follow the index, with a zero image embedding: its CLIP score is 0, below
    any decodable pair; the keys are recorded in the file's metadata (``clipcurate.corrupt_images``)."""
    dim = img_out[0].shape[1] if img_out else 0
    np_dtype = np.float16 if dtype == "float16" else np.float32
    image = np.concatenate(img_out).astype(np_dtype) if img_out else np.zeros((0, dim), np_dtype)
    if corrupt:
        bad = set(corrupt)
        image[[i for i, k in enumerate(keys) if k in bad]] = 0
    cols = {
        key_name: pa.array(keys, pa.string()),
        "image": pa.FixedSizeListArray.from_arrays(pa.array(image.reshape(-1)), dim),
    }
    if txt_out is not None:  # None: an image variant's file, whose text vectors are the plain file's
        text = np.concatenate(txt_out).astype(np_dtype) if txt_out else np.zeros((0, dim), np_dtype)
        cols["text"] = pa.FixedSizeListArray.from_arrays(pa.array(text.reshape(-1)), dim)
    cols.update(extra or {})
    return pa.table(cols).replace_schema_metadata({b"clipcurate.corrupt_images": json.dumps(list(corrupt or [])).encode()})


@torch.no_grad()
def _embed_samples(samples: Iterator[tuple[str, bytes, str, str]], model_spec: Mapping, batch_size: int,
                   transform: Callable[[Image.Image], Image.Image] | None, what: str, total: int | None = None,
                   with_text: bool = True):
    """Embed (key, image bytes, caption, where) samples, each image through ``transform`` (an image
    variant's; None: as given) and, ``with_text``, each caption; returns keys, lists of image and text
    batches (text None without it), and the keys whose image did not decode (skipped with a warning
    naming ``where``, never fatal)."""
    t0 = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, preprocess, tokenizer = models.load_model(model_spec, device=device)
    transform = transform or (lambda im: im)
    keys, img_out = [], []
    txt_out: list | None = [] if with_text else None
    batch_imgs, batch_txts = [], []

    def flush():
        images = torch.stack(batch_imgs).to(device)
        with torch.autocast(device_type=device, enabled=device == "cuda"):
            fi = model.encode_image(images, normalize=True)
            if txt_out is not None:
                txt_out.append(model.encode_text(tokenizer(batch_txts).to(device), normalize=True).float().cpu().numpy())
        img_out.append(fi.float().cpu().numpy())
        batch_imgs.clear()
        batch_txts.clear()

    n = 0
    bar = progress(total=total, desc=what, unit="samples")
    corrupt: list[str] = []  # keys whose image did not decode: their image embedding is zero
    blank = None
    for key, jpg, caption, where in samples:
        bar.update(1)
        im = decode_image(jpg, where)
        if im is None:
            corrupt.append(key)
            if blank is None:
                blank = torch.zeros_like(preprocess(Image.new("RGB", (8, 8))))
            batch_imgs.append(blank)
        else:
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
    bar.close()
    if corrupt:
        log.warning("%s: %d corrupt images skipped (zero image embedding), e.g. %s", what, len(corrupt), corrupt[0])
    return keys, img_out, txt_out, corrupt


def embed_chunk(
    index_path,
    shards_dir,
    chunk: int,
    model_spec: Mapping,
    out_path,
    batch_size: int = 256,
    variant: str | Mapping = "plain",
    dtype: str = "float32",
) -> dict:
    """Embed one chunk and write the embedding parquet; returns throughput figures.

    ``variant``: an image variant's name or its resolved form (:func:`clipcurate.embed.variants.plan_variant`:
    name, params, artifact paths). The plain variant writes image and text vectors; any other writes
    its transformed images' vectors only (the captions are the same, so their vectors are the plain
    file's).
    """
    spec = {"name": variant, "params": {}, "artifacts": {}} if isinstance(variant, str) else dict(variant)
    name = spec["name"]
    transform = variants.transform(name, spec.get("params"), spec.get("artifacts"))
    t0 = time.time()
    samples = (
        (uid, jpg, caption, f"{shard}: sample {key} (uid {uid})")
        for uid, jpg, caption, shard, key in iter_chunk_samples(index_path, shards_dir, chunk, with_place=True)
    )
    chunks = poolindex.read_index(index_path, columns=["chunk"]).column("chunk")
    total = pc.sum(pc.equal(chunks, chunk)).as_py() or 0
    uids, img_out, txt_out, corrupt = _embed_samples(samples, model_spec, batch_size, transform, f"embed chunk {chunk}", total,
                                                     with_text=name == variants.PLAIN)
    fileio.write_table(_embedding_table(uids, "uid", img_out, txt_out, dtype, corrupt=corrupt), out_path)
    dt = time.time() - t0
    n = len(uids)
    return {"chunk": chunk, "variant": name, "samples": n, "corrupt_images": len(corrupt), "seconds": round(dt, 2),
            "samples_per_second": round(n / dt, 1) if dt else None}


def iter_reference_samples(set_dir) -> Iterator[tuple[str, bytes, str, int | None]]:
    """(key, image bytes, caption, label or None) of a reference set's shards, in shard and key order."""
    set_dir = Path(set_dir)
    shards = sorted(set_dir.glob("*.tar"))
    if not shards:
        raise fileio.ContractError(f"{set_dir}: no .tar shards in the reference set")
    for shard in shards:
        for key, files in _iter_samples(shard):
            img = files.get("jpg") or files.get("png") or files.get("jpeg") or files.get("webp")
            if img is None:
                raise fileio.ContractError(f"{shard}: sample {key} has no image (jpg/png/jpeg/webp)")
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
            yield key, img, caption, f"{set_dir}: sample {key}"

    keys, img_out, txt_out, corrupt = _embed_samples(samples(), model_spec, batch_size, None, str(set_dir))
    if any(lab is None for lab in labels) and any(lab is not None for lab in labels):
        raise fileio.ContractError(f"{set_dir}: some samples have a cls label and some do not")
    label = pa.array(labels, pa.int64())
    fileio.write_table(_embedding_table(keys, "key", img_out, txt_out, dtype, {"label": label}, corrupt), out_path)
    dt = time.time() - t0
    return {"set": str(set_dir), "samples": len(keys), "labelled": bool(labels) and labels[0] is not None, "seconds": round(dt, 2)}


def read_embeddings(path, columns=("image", "text")) -> dict[str, np.ndarray]:
    """Read an embedding file: ``uid`` (``key`` for a reference set) plus (N, d) float32 arrays per column."""
    path = Path(path)
    if not path.exists():
        raise fileio.ContractError(f"{path}: embedding file not found")
    names = fileio.open_parquet(path, "embedding file").schema_arrow.names
    key = "uid" if "uid" in names else "key"  # reference sets have keys, not uids
    t = fileio.read_parquet(path, columns=[key, *columns], what="embedding file")
    out: dict = {key: t.column(key)}
    for c in columns:
        col = t.column(c).combine_chunks()
        dim = col.type.list_size
        out[c] = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)
    return out
