"""Batch streams for FLYT training: the pool upstream, the labelled downstream set.

Both read webdataset shards with webdataset itself, forever (FLYT trains with
``--dataset-resampled``): each pass visits the shards in a seeded random order and shuffles
samples through a seeded buffer, so a run is reproducible from ``seed`` alone. They run in the
training process; at real scale this is one node's loader, and the scorer's throughput is bound
by the meta-gradient step, not by decoding.

Upstream batches carry the scorer's per-sample input ``features``:

* M-FLYT: the raw input scores of each sample, looked up by uid in a pool-aligned matrix
  (:func:`pool_score_features`). Every uid in the shards must have a row: the reference code
  crashes on a missing key, here it is a :class:`~clipcurate.core.fileio.ContractError` naming the shard.
* E-FLYT: the frozen embedding model's ``[image, text]`` embeddings, computed on the fly
  (:func:`clipcurate.train.flyt.scorers.embedding_features`), as the reference code does; storing them
  for a 128M pool would take hundreds of GB.
"""

from __future__ import annotations

import io as _io
import logging
import random
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import webdataset as wds
from PIL import Image

from clipcurate.core import fileio, poolindex, scorefiles

log = logging.getLogger(__name__)

__all__ = [
    "pool_score_features",
    "upstream_batches",
    "downstream_batches",
    "downstream_set",
    "read_lines",
]


def read_lines(path) -> list[str]:
    """Non-empty lines of a text file (class names, templates)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: no non-empty lines")
    return lines


def pool_score_features(index_path, score_specs: Sequence[tuple[str, str, str]]) -> tuple[list[str], np.ndarray]:
    """The pool's uids and an (N, k) float32 matrix of raw input scores, in index row order.

    ``score_specs`` lists ``(input_name, score_file, column)``; each file is checked against the
    index (alignment, finite values) by :func:`clipcurate.core.scorefiles.read_scores`.
    """
    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid").to_pylist()
    cols = []
    for name, path, column in score_specs:
        cols.append(scorefiles.read_scores(path, index_path, [column])[column].astype(np.float32))
    return uids, np.stack(cols, axis=1) if cols else np.zeros((len(uids), 0), np.float32)


def _shard_urls(shards: Sequence) -> list[str]:
    urls = [str(s) for s in shards]
    if not urls:
        raise ValueError("no shards to read")
    for u in urls:
        if not Path(u).is_file():
            raise FileNotFoundError(f"{u}: shard not found")
        fileio.check_complete_tar(u)  # webdataset's stream reader would end silently where a shard was cut
    return urls


def _key_order_within_shard(src: Iterator[dict]) -> Iterator[dict]:
    """Re-emit each shard's raw samples sorted by ``__key__``.

    img2dataset writes samples in download-completion order, so the same pool downloaded twice
    gives shards whose members differ in order; sorting makes the stream a function of the seed.
    Holds one shard's undecoded samples at a time.
    """
    current, held = None, []
    for sample in src:
        url = sample.get("__url__")
        if url != current and held:
            yield from sorted(held, key=lambda s: s["__key__"])
            held = []
        current = url
        held.append(sample)
    yield from sorted(held, key=lambda s: s["__key__"])


class SkipCounter:
    """Counts and logs what the FLYT streams skip: samples whose image does not decode (named by
    shard and key) and shards that cannot be read to the end (webdataset adds the shard's url to the
    error). Skipping is never fatal: the stream goes on with the next sample or shard."""

    def __init__(self):
        self.images = 0
        self.other = 0

    def corrupt_image(self, url, key, err: Exception) -> None:
        self.images += 1
        log.warning("%s: sample %s: corrupt image skipped (%s: %s); %d skipped so far", url, key, type(err).__name__, err, self.images)

    def __call__(self, exn: Exception) -> bool:
        """A webdataset handler: log the error (its args name the shard) and continue."""
        self.other += 1
        log.warning("skipped after a read error: %s: %s; %d read errors so far", type(exn).__name__, exn, self.other)
        return True


#: what the FLYT streams of this process skipped (each skip is logged with the running count)
SKIPPED = SkipCounter()

_IMAGE_EXTS = ("jpg", "png", "webp")


def _decode_images(src: Iterator[dict], counter: SkipCounter = SKIPPED) -> Iterator[dict]:
    """Decode each sample's image to PIL; a sample whose image does not decode is counted and dropped."""
    for sample in src:
        ok = True
        for ext in _IMAGE_EXTS:
            data = sample.get(ext)
            if isinstance(data, bytes):
                try:
                    with Image.open(_io.BytesIO(data)) as im:
                        im.load()
                        sample[ext] = im.copy()
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                    counter.corrupt_image(sample.get("__url__"), sample.get("__key__"), e)
                    ok = False
                break
        if ok:
            yield sample


def _samples_forever(urls: list[str], keys: str, seed: int, shuffle_buffer: int) -> Iterator[tuple]:
    """(decoded PIL image, *other fields) tuples, endlessly, in a seeded order."""
    epoch = 0
    while True:
        order = np.random.default_rng([seed, epoch]).permutation(len(urls))
        ds = (
            wds.WebDataset([urls[i] for i in order], shardshuffle=False, handler=SKIPPED)
            .compose(_key_order_within_shard)
            .shuffle(shuffle_buffer, initial=min(shuffle_buffer, 1000), rng=random.Random(seed * 1000003 + epoch))
            .compose(_decode_images)
            .decode("pil", partial=True, handler=SKIPPED)
            .to_tuple(keys, handler=SKIPPED)
        )
        n = 0
        for item in ds:
            n += 1
            yield item
        if n == 0:
            raise ValueError(f"shards {urls[:3]}...: no samples with fields {keys!r}")
        epoch += 1


def upstream_batches(
    shards: Sequence,
    preprocess: Callable,
    tokenizer: Callable,
    batch_size: int,
    *,
    seed: int,
    shuffle_buffer: int = 5000,
    uids: Sequence[str] | None = None,
    features: np.ndarray | None = None,
    feature_fn: Callable[[list, list, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> Iterator[dict]:
    """Endless upstream batches ``{"images", "texts", "features", "uids"}`` from pool shards.

    Give either ``uids`` + ``features`` (row i of ``features`` belongs to ``uids[i]``: M-FLYT) or
    ``feature_fn(pil_images, captions, images, tokens)`` returning (B, k) features (E-FLYT).
    """
    if (features is None) == (feature_fn is None):
        raise ValueError("give exactly one of features (with uids) or feature_fn")
    urls = _shard_urls(shards)
    row_of = None
    if features is not None:
        if uids is None or len(uids) != len(features):
            raise ValueError("features need uids of the same length")
        row_of = {u: i for i, u in enumerate(uids)}
    images, texts, pils, rows, batch_uids = [], [], [], [], []
    for image, caption, meta, url in _samples_forever(urls, "jpg;png;webp txt json __url__", seed, shuffle_buffer):
        uid = meta.get("uid") if isinstance(meta, dict) else None
        if row_of is not None:
            if uid not in row_of:
                raise fileio.ContractError(f"{url}: sample with uid {uid!r} has no row in the input score files")
            rows.append(row_of[uid])
        image = image.convert("RGB")
        if feature_fn is not None:
            pils.append(image)
        images.append(preprocess(image))
        texts.append(caption)
        batch_uids.append(uid)
        if len(images) == batch_size:
            img_t, txt_t = torch.stack(images), tokenizer(texts)
            if row_of is not None:
                feats = torch.from_numpy(features[np.asarray(rows)])
            else:
                feats = feature_fn(pils, texts, img_t, txt_t)
            yield {"images": img_t, "texts": txt_t, "features": feats, "uids": list(batch_uids)}
            images, texts, pils, rows, batch_uids = [], [], [], [], []


def downstream_batches(
    shards: Sequence,
    preprocess: Callable,
    batch_size: int,
    *,
    seed: int,
    shuffle_buffer: int = 5000,
) -> Iterator[dict]:
    """Endless downstream batches ``{"images", "labels"}`` from labelled shards (``jpg`` + ``cls``)."""
    urls = _shard_urls(shards)
    images, labels = [], []
    for image, label in _samples_forever(urls, "jpg;png;webp cls;label", seed, shuffle_buffer):
        images.append(preprocess(image.convert("RGB")))
        labels.append(int(label))
        if len(images) == batch_size:
            yield {"images": torch.stack(images), "labels": torch.tensor(labels, dtype=torch.long)}
            images, labels = [], []


def downstream_set(directory) -> dict:
    """Shards, class names and templates of a downstream set directory.

    The layout is the tiny world's ``reference/downstream`` (and DataComp's captioned ImageNet
    train shards plus its ``classnames.txt`` and ``zeroshot_classification_templates.txt``):
    ``*.tar`` with ``jpg`` + ``cls``; ``classnames.txt``; ``templates.txt`` (``{c}`` marks the
    class name).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: downstream set directory not found")
    shards = sorted(directory.glob("*.tar"))
    if not shards:
        raise FileNotFoundError(f"{directory}: no .tar shards in the downstream set")
    classnames, templates = directory / "classnames.txt", directory / "templates.txt"
    if not templates.exists() and (directory / "zeroshot_classification_templates.txt").exists():
        templates = directory / "zeroshot_classification_templates.txt"
    return {"shards": shards, "classnames": read_lines(classnames), "templates": read_lines(templates)}

