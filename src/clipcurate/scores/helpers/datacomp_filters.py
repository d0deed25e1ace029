"""DataComp's baseline filters as pure functions over columns (the registered methods wrap them).

Each function reproduces the rule of DataComp's ``baselines.py`` exactly, including its strict
and non-strict comparisons; the places where a choice had to be made are noted where they occur.

* basic: English (fastText top-1), caption with more than 2 whitespace words and more than 5
  characters, min(width, height) >= 200 and max/min <= 3.
* text-based: English and some word's first WordNet synset is an ImageNet-21k class
  (:mod:`clipcurate.scores.helpers.wordnet`).
* image-based: caption pre-filter (English, more than 1 fastText token, more than 5 characters);
  faiss k-means of the pre-filtered pool's image embeddings; a sample is kept when its centroid is
  the nearest centroid of at least one downstream-train (ImageNet-train) image.
* CLIP score by fraction: the threshold is the score at index floor(N * f) of the pool's scores
  sorted in descending order, and every score >= it is kept (so floor(N * f) + 1 rows plus ties).
* LAION-2B: CLIP B/32 score >= 0.28 and English.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from clipcurate.scores.helpers.langid import fasttext_token_count
from clipcurate.sample.topk import top_count


class FilterError(ValueError):
    pass


def _texts(texts) -> list:
    if hasattr(texts, "to_pylist"):
        return texts.to_pylist()
    return list(texts)


def word_counts(texts: Sequence[str | None]) -> np.ndarray:
    """``len(caption.split())`` of each caption (Python's whitespace split; missing caption: 0)."""
    return np.fromiter((len(t.split()) if t else 0 for t in texts), dtype=np.int64, count=len(texts))


def char_counts(texts: Sequence[str | None]) -> np.ndarray:
    """``len(caption)`` in Unicode code points (missing caption: 0)."""
    return np.fromiter((len(t) if t else 0 for t in texts), dtype=np.int64, count=len(texts))


def caption_mask(texts: Sequence[str | None], min_words: int = 2, min_chars: int = 5) -> np.ndarray:
    """More than ``min_words`` whitespace words and more than ``min_chars`` characters (strict)."""
    texts = _texts(texts)
    return (word_counts(texts) > min_words) & (char_counts(texts) > min_chars)


def geometry_mask(width, height, min_side: float = 200, max_aspect: float = 3.0) -> np.ndarray:
    """min(width, height) >= ``min_side`` and max/min <= ``max_aspect`` (both inclusive, as DataComp).

    A missing size (null) fails; a zero side fails the min-side test (its ratio is not computed).
    """
    w = np.asarray(width, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    lo, hi = np.minimum(w, h), np.maximum(w, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        aspect = np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0), np.inf)
    return (lo >= min_side) & (aspect <= max_aspect)  # NaN compares False: missing sizes fail


def basic_mask(texts, width, height, english: np.ndarray, *, min_words: int = 2, min_chars: int = 5,
               min_side: float = 200, max_aspect: float = 3.0) -> np.ndarray:
    """DataComp's basic filter given the fastText English mask."""
    return (np.asarray(english, dtype=bool) & caption_mask(texts, min_words, min_chars)
            & geometry_mask(width, height, min_side, max_aspect))


def english_where(texts, rows: np.ndarray, model, threads: int = 1) -> np.ndarray:
    """The fastText English mask, computed only on ``rows`` (a boolean mask; False elsewhere).

    The filters AND the language test with cheaper rules, so predicting only where those pass
    gives the same keep mask; language ID is most of the basic filter's time.
    """
    from clipcurate.scores.helpers.langid import is_english

    texts = _texts(texts)
    rows = np.asarray(rows, dtype=bool)
    out = np.zeros(len(texts), dtype=bool)
    idx = np.flatnonzero(rows)
    if idx.size:
        out[idx] = is_english([texts[i] for i in idx], model, threads=threads)
    return out


def basic_filter(texts, width, height, model, *, min_words: int = 2, min_chars: int = 5, min_side: float = 200,
                 max_aspect: float = 3.0, threads: int = 1) -> np.ndarray:
    """DataComp's basic filter end to end: the cheap rules first, language ID where they pass."""
    texts = _texts(texts)
    cheap = caption_mask(texts, min_words, min_chars) & geometry_mask(width, height, min_side, max_aspect)
    return cheap & english_where(texts, cheap, model, threads)


def caption_prefilter(texts, english: np.ndarray, min_tokens: int = 1, min_chars: int = 5) -> np.ndarray:
    """The image-based baseline's caption filter: English, > ``min_tokens`` fastText tokens, > ``min_chars``
    characters. It counts fastText tokens (a newline adds ``</s>``), where the basic filter counts
    ``str.split`` words; DataComp uses the two counts in the two filters."""
    texts = _texts(texts)
    tokens = np.fromiter((fasttext_token_count(t) for t in texts), dtype=np.int64, count=len(texts))
    return np.asarray(english, dtype=bool) & (tokens > min_tokens) & (char_counts(texts) > min_chars)


def fraction_threshold(scores: np.ndarray, fraction: float) -> float:
    """DataComp's ``get_threshold``: the score at index floor(N * fraction) in descending order.

    Keeping ``scores >= threshold`` then keeps floor(N * f) + 1 rows plus ties; this off-by-one is
    DataComp's and is kept. ``fraction`` must be in (0, 1); with floor(N * f) = N there is no such
    index (DataComp's code fails), so fraction 1 is refused. floor(N * f) is the workflow's one
    rounding rule (:func:`clipcurate.sample.topk.top_count`), where DataComp truncates the binary
    product with ``int()``: they differ only where that product falls an ulp short of an integer
    (``int(100 * 0.29)`` is 28, ``top_count(0.29, 100)`` 29).
    """
    s = np.asarray(scores, dtype=np.float64)
    if not (0.0 < float(fraction) < 1.0):
        raise FilterError(f"fraction: expected a number in (0, 1), got {fraction!r}")
    if s.size == 0:
        raise FilterError("fraction: no scores to take a threshold from")
    if np.isnan(s).any():
        raise FilterError(f"scores: {int(np.isnan(s).sum())} NaN values; a threshold needs finite scores")
    n = top_count(float(fraction), s.size)
    return float(-np.sort(-s)[n])


def threshold_keep(scores: np.ndarray, threshold: float | None = None, fraction: float | None = None) -> np.ndarray:
    """``scores >= threshold``, the threshold given or taken by :func:`fraction_threshold`."""
    if (threshold is None) == (fraction is None):
        raise FilterError("give exactly one of threshold and fraction")
    s = np.asarray(scores)
    t = float(threshold) if threshold is not None else fraction_threshold(s, fraction)
    return s >= t


# ----------------------------------------------------------------------------------------------
# image-based clustering


def train_centroids(x: np.ndarray, k: int, *, niter: int = 20, seed: int = 0, sample_ratio: float | None = None,
                    threads: int | None = None, max_points_per_centroid: int = 10_000_000, gpus: int = 0) -> np.ndarray:
    """faiss k-means centroids of the rows of ``x``, configured as DataComp's clustering script.

    L2 k-means (``faiss.Clustering`` with a flat L2 index), ``niter`` iterations, the given seed, and
    ``max_points_per_centroid`` 10M as DataComp sets it so that faiss does not sub-sample the training
    set (a smaller value lets faiss cluster a random ``k * max_points_per_centroid`` rows).
    With ``sample_ratio`` in (0, 1) a random sample of int(n * ratio) rows is clustered, drawn with
    replacement as DataComp's ``np.random.choice`` does (seeded here). With ``gpus`` > 0 the index
    is faiss's GPU flat index on each GPU (float32, no float16), replicated as DataComp does. The
    centroids are not normalised.
    """
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise FilterError(f"embeddings: expected a 2-D array, got shape {x.shape}")
    if sample_ratio is not None and sample_ratio > 0:
        if sample_ratio > 1:
            raise FilterError(f"sample_ratio: expected a number in (0, 1], got {sample_ratio}")
        rng = np.random.default_rng(seed)
        x = x[rng.integers(0, len(x), size=int(len(x) * sample_ratio))]
    k = int(k)
    if not (1 <= k <= len(x)):
        raise FilterError(f"centroids: {k} clusters need between 1 and {len(x)} (the clustered rows) points")
    if threads is not None:
        faiss.omp_set_num_threads(int(threads))
    d = x.shape[1]
    cl = faiss.Clustering(d, k)
    cl.niter = int(niter)
    cl.seed = int(seed)
    cl.max_points_per_centroid = int(max_points_per_centroid)
    index = flat_index(d, "l2", gpus)
    cl.train(x, index)
    return faiss.vector_float_to_array(cl.centroids).reshape(k, d).copy()


def flat_index(d: int, metric: str, gpus: int = 0):
    """An exact faiss index (``l2`` or ``ip``): on the CPU, or on ``gpus`` GPUs (float32 storage and
    math, replicated when more than one), as DataComp's clustering script builds it."""
    import faiss

    cpu = faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)
    if gpus <= 0:
        return cpu
    res = [faiss.StandardGpuResources() for _ in range(gpus)]
    indexes = []
    for i in range(gpus):
        cfg = faiss.GpuIndexFlatConfig()
        cfg.useFloat16 = False
        cfg.device = i
        cls = faiss.GpuIndexFlatL2 if metric == "l2" else faiss.GpuIndexFlatIP
        indexes.append(cls(res[i], d, cfg))
    if gpus == 1:
        indexes[0].referenced_resources = res  # keep the resources alive with the index
        return indexes[0]
    rep = faiss.IndexReplicas()
    for sub in indexes:
        rep.addIndex(sub)
    rep.referenced = (res, indexes)
    return rep


def load_centroids(path) -> np.ndarray:
    """Centroids from a file: ``.npy``, or DataComp's released ``{scale}_centroids_l14.pt`` (a numpy
    array saved with ``torch.save``; unpickled, so give only a file you trust)."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise FilterError(f"{path}: centroids file not found")
    if path.suffix == ".npy":
        c = np.load(path, allow_pickle=False)
    else:
        import torch

        c = torch.load(path, map_location="cpu", weights_only=False)
        c = c.numpy() if hasattr(c, "numpy") else np.asarray(c)
    c = np.asarray(c)
    if c.ndim != 2 or not np.issubdtype(c.dtype, np.floating) or not np.isfinite(c).all():
        raise FilterError(f"{path}: expected a finite 2-D float array of centroids (k, d), got {c.dtype} {c.shape}")
    return np.ascontiguousarray(c, dtype=np.float32)


def assign_centroids(x: np.ndarray, centroids: np.ndarray, batch_size: int = 65536, gpus: int = 0) -> np.ndarray:
    """Index of the centroid with the largest inner product with each row (DataComp's assignment).

    DataComp assigns by ``argmax(x @ centroids.T)`` with the raw (not normalised) k-means centroids,
    which is not exactly the L2-nearest centroid; this follows it, through faiss's exact inner-product
    search (on ``gpus`` GPUs when given).
    """
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    x = np.asarray(x, dtype=np.float32)
    if len(x) and x.shape[1] != c.shape[1]:
        raise FilterError(f"embeddings of dimension {x.shape[1]} cannot be assigned to centroids of dimension {c.shape[1]}")
    index = flat_index(c.shape[1], "ip", gpus)
    index.add(c)
    out = np.empty(len(x), dtype=np.int64)
    for i in range(0, len(x), batch_size):
        _, lab = index.search(np.ascontiguousarray(x[i:i + batch_size]), 1)
        out[i:i + batch_size] = lab[:, 0]
    return out


def image_based_keep(pool_image: np.ndarray, prefilter: np.ndarray, centroids: np.ndarray,
                     reference_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask and target clusters: a pre-filtered pool sample is kept when its centroid is the
    centroid of at least one reference (downstream-train) image."""
    prefilter = np.asarray(prefilter, dtype=bool)
    target = np.unique(assign_centroids(reference_image, centroids))
    keep = np.zeros(len(pool_image), dtype=bool)
    rows = np.flatnonzero(prefilter)
    if rows.size:
        keep[rows] = np.isin(assign_centroids(pool_image[rows], centroids), target)
    return keep, target
