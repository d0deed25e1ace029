"""The dedup stage's algorithms: exact, embedding, perceptual-hash and semantic (SemDeDup) duplicates.

Pure functions on arrays; the registered score methods (``clipcurate.scores.methods.exact_dup``,
``near_dup``, ``phash_dup``, ``semdedup``, ``decontam``) wire them into the staged fit / apply /
group contract (:mod:`clipcurate.scores.stages`), so that no job holds the pool.

Which member of a duplicate group is kept
    ``exact_dup``, ``near_dup`` and ``phash_dup`` find groups as connected components of the
    "is a duplicate of" graph and keep the member that comes **first in pool order** (the index's
    row order, which is canonical): deterministic, independent of thresholds and chunking, and on
    the tiny world the original (a near duplicate copies an earlier clean image). SemDeDup keeps
    what its reference implementation keeps (:func:`semdedup_keep`): no components, an order by
    distance to the cluster centroid.

Cosine thresholds are compared in float32 as ``cos >= threshold`` (faiss's range search returns
``ip > radius``; the radius is the next float32 below the threshold).
"""

from __future__ import annotations

import binascii
from typing import Sequence

import numpy as np


class DedupError(ValueError):
    pass


# --------------------------------------------------------------------------------------------
# groups: connected components, keep the first member


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` items, given edges ``(i[k], j[k])`` (scipy)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    if n == 0:
        return np.zeros(0, np.int64)
    g = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    return connected_components(g, directed=False)[1].astype(np.int64)


def keep_first(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask (the first item of each label, in the given order) and each item's group size."""
    labels = np.asarray(labels, dtype=np.int64)
    keep = np.zeros(len(labels), bool)
    if not len(labels):
        return keep, np.zeros(0, np.int64)
    _, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True, return_counts=True)
    keep[first] = True
    return keep, counts[inverse.reshape(-1)]


def dup_score(size: np.ndarray) -> np.ndarray:
    """A duplicate method's ``score``: 1 / (size of the sample's duplicate group); 1 for a unique sample.

    Higher is better (less duplicated), and over the samples scoring below 1 the scores sum to the
    number of groups found (:func:`groups_from_score`)."""
    return (1.0 / np.maximum(np.asarray(size, np.float64), 1.0)).astype(np.float32)


def groups_from_score(score: np.ndarray) -> int:
    """Duplicate groups (of two or more samples) found, from a :func:`dup_score` column."""
    s = np.asarray(score, np.float64)
    return int(round(float(s[s < 1.0].sum())))


# --------------------------------------------------------------------------------------------
# exact duplicates: sha256 hashes


def sha256_words(hexes: Sequence, where: str = "sha256") -> tuple[np.ndarray, np.ndarray]:
    """The first 128 bits of each sha256 hex digest as two uint64 words, and a validity mask.

    A null (a sample without a hash) is invalid and never a duplicate; a string that is not 64 hex
    digits is an error naming its row. 128 bits make an accidental collision among 128M hashes
    vanishingly unlikely (about n^2 / 2^129)."""
    vals = list(hexes)
    valid = np.array([v is not None for v in vals], dtype=bool)
    words = np.zeros((len(vals), 2), np.uint64)
    if valid.any():
        sel = [v for v in vals if v is not None]
        bad = [k for k, v in enumerate(sel) if len(v) != 64]
        if bad:
            row = int(np.flatnonzero(valid)[bad[0]])
            raise DedupError(f"{where}: row {row} has {sel[bad[0]]!r}, expected a sha256 hex digest (64 hex digits)")
        try:
            raw = binascii.unhexlify("".join(v[:32] for v in sel))
        except (binascii.Error, ValueError) as e:
            raise DedupError(f"{where}: a value is not hexadecimal ({e}); expected sha256 hex digests") from None
        words[valid] = np.frombuffer(raw, dtype=">u8").reshape(-1, 2).astype(np.uint64)
    return words, valid


def exact_groups(words: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask (first in the given order per identical hash) and group sizes, over all rows at once."""
    n = len(words)
    labels = np.arange(n, dtype=np.int64) + n  # invalid rows: their own group
    rows = np.flatnonzero(valid)
    if len(rows):
        w = words[rows]
        order = np.lexsort((rows, w[:, 1], w[:, 0]))
        w = w[order]
        new = np.r_[True, (w[1:] != w[:-1]).any(axis=1)]
        labels[rows[order]] = np.cumsum(new) - 1
    return keep_first(labels)


# --------------------------------------------------------------------------------------------
# embedding near duplicates: faiss range search


def _radius(threshold: float) -> float:
    return float(np.nextafter(np.float32(threshold), np.float32(-np.inf)))


def near_pairs(x: np.ndarray, threshold: float, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of rows of ``x`` (L2-normalised) with cosine >= ``threshold`` (faiss exact
    inner-product range search)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    faiss.omp_set_num_threads(int(threads))
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    lims, _, ids = index.range_search(x, _radius(threshold))
    src = np.repeat(np.arange(len(x), dtype=np.int64), np.diff(lims.astype(np.int64)))
    ids = ids.astype(np.int64)
    m = src < ids
    return src[m], ids[m]


def near_groups(x: np.ndarray, threshold: float, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask (first row of each near-duplicate component, in the given order) and group sizes."""
    i, j = near_pairs(x, threshold, threads)
    return keep_first(components(len(x), i, j))


def matches_any(x: np.ndarray, ref: np.ndarray, threshold: float, batch: int = 65536,
                threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``x``: whether its cosine to some row of ``ref`` is >= ``threshold``, and
    the largest such cosine (-1 with an empty ``ref``); faiss exact inner-product search."""
    import faiss

    x = np.asarray(x, dtype=np.float32)
    best = np.full(len(x), -1.0, np.float32)
    if len(ref) and len(x):
        faiss.omp_set_num_threads(int(threads))
        index = faiss.IndexFlatIP(ref.shape[1])
        index.add(np.ascontiguousarray(ref, dtype=np.float32))
        for lo in range(0, len(x), batch):
            d, _ = index.search(np.ascontiguousarray(x[lo:lo + batch]), 1)
            best[lo:lo + batch] = d[:, 0]
    return best >= np.float32(threshold), best


# --------------------------------------------------------------------------------------------
# perceptual hashes: Hamming-distance groups


def popcount64(v: np.ndarray) -> np.ndarray:
    """Bits set in each uint64."""
    v = np.asarray(v, dtype=np.uint64)
    return np.unpackbits(v.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1).astype(np.int64)


def hamming_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of distinct 64-bit hashes with Hamming distance <= ``max_distance``.

    Multi-index hashing: the 64 bits are cut into ``max_distance + 1`` blocks; two hashes within
    the distance agree exactly on at least one block (pigeonhole), so only hashes sharing a block
    value are compared. Exact (every pair within the distance is found); the work is the number of
    same-block pairs, about ``(t + 1) n^2 / 2^(64 / (t + 1))`` for uniform hashes."""
    h = np.asarray(hashes, dtype=np.uint64)
    t = int(max_distance)
    if t < 0 or t > 63:
        raise DedupError(f"max_distance: expected an integer in 0..63, got {max_distance}")
    n = len(h)
    found_i, found_j = [], []
    edges = np.linspace(0, 64, t + 2).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = np.uint64(((1 << (hi - lo)) - 1) << lo)
        key = h & mask
        order = np.argsort(key, kind="stable")
        k = key[order]
        # compare each row with the next d rows of the same block value, for d = 1, 2, ...
        d = 1
        while d < n:
            same = k[d:] == k[:-d]
            if not same.any():
                break
            a, b = order[:-d][same], order[d:][same]
            close = popcount64(h[a] ^ h[b]) <= t
            found_i.append(np.minimum(a, b)[close])
            found_j.append(np.maximum(a, b)[close])
            d += 1
    if not found_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(found_i), np.concatenate(found_j)], axis=1).astype(np.int64), axis=0)
    return pairs[:, 0], pairs[:, 1]


def phash_groups(hashes: np.ndarray, valid: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep mask (first in the given order per component of hashes within ``max_distance`` bits)
    and group sizes; identical hashes are merged first, so a run of equal hashes costs nothing."""
    n = len(hashes)
    labels = np.arange(n, dtype=np.int64) + n
    rows = np.flatnonzero(valid)
    if len(rows):
        uniq, inv = np.unique(np.asarray(hashes, np.uint64)[rows], return_inverse=True)
        i, j = hamming_pairs(uniq, max_distance)
        labels[rows] = components(len(uniq), i, j)[inv.reshape(-1)]
    return keep_first(labels)


def phash_int(image, hash_size: int = 8) -> int:
    """imagehash's perceptual hash of a PIL image as an unsigned 64-bit integer (``hash_size`` 8)."""
    import imagehash

    bits = imagehash.phash(image, hash_size=hash_size).hash.reshape(-1)
    if bits.size != 64:
        raise DedupError(f"phash: hash_size {hash_size} gives {bits.size} bits; the dedup stage stores 64 (hash_size 8)")
    return int(np.packbits(bits.astype(np.uint8)).view(">u8")[0])


# --------------------------------------------------------------------------------------------
# SemDeDup (facebookresearch/SemDeDup)


def semdedup_order(sim_to_centroid: np.ndarray, which: str = "hard", rng: np.random.Generator | None = None) -> np.ndarray:
    """Order of a cluster's members as SemDeDup processes them (the first is always kept).

    The reference sorts by cosine distance to the centroid, ``1 - sim``: descending for ``hard``
    (the default: the member farthest from the centroid comes first), ascending for ``easy``,
    shuffled for ``random``. Python's ``sorted`` is stable, so ties stay in pool order; so here."""
    dist = 1.0 - np.asarray(sim_to_centroid, dtype=np.float32)
    if which == "hard":
        return np.argsort(-dist, kind="stable")
    if which == "easy":
        return np.argsort(dist, kind="stable")
    if which == "random":
        return (rng or np.random.default_rng(0)).permutation(len(dist))
    raise DedupError(f"which_to_keep: expected 'hard', 'easy' or 'random', got {which!r}")


def semdedup_max_earlier(x: np.ndarray, block: int = 4096) -> np.ndarray:
    """``M_j``: the largest cosine of item j to any earlier item of ``x`` (rows in keep order), 0 for
    the first item; earlier items count whether or not they are removed.

    The reference builds ``S = X X^T``, zeroes the diagonal, keeps the upper triangle (zeros below)
    and takes the column maximum, so ``M_j = max(0, max_{i<j} S_ij)``. Computed here in blocks of
    ``block`` columns, so memory is ``n * block`` floats, not ``n^2`` (a 100K-member cluster would
    need 40 GB)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = len(x)
    m = np.zeros(n, np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        s = x[:hi] @ x[lo:hi].T  # (hi, hi - lo): rows i < hi, columns j in [lo, hi)
        rows = np.arange(hi)[:, None]
        cols = np.arange(lo, hi)[None, :]
        s[rows >= cols] = 0.0
        m[lo:hi] = s.max(axis=0) if hi else 0.0
    return m


def semdedup_keep(x: np.ndarray, sim_to_centroid: np.ndarray, eps: float, which: str = "hard",
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One cluster's keep mask and ``M`` (both in the members' given order).

    Members are ordered by :func:`semdedup_order`; member j is removed when ``M_j > 1 - eps``. A
    singleton is kept (``M`` 0)."""
    n = len(x)
    keep = np.ones(n, bool)
    m = np.zeros(n, np.float32)
    if n > 1:
        order = semdedup_order(sim_to_centroid, which, rng)
        mo = semdedup_max_earlier(np.asarray(x)[order])
        m[order] = mo
        keep[order] = ~(mo > np.float32(1.0 - float(eps)))
    return keep, m


def spherical_kmeans(x: np.ndarray, k: int, niter: int, seed: int, threads: int = 1,
                     max_points_per_centroid: int = 256, gpus: int = 0) -> np.ndarray:
    """faiss spherical k-means (``faiss.Kmeans(..., spherical=True)``, the reference's clustering):
    centroids re-normalised after each iteration, an inner-product index."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    k = int(k)
    if not (1 <= k <= len(x)):
        raise DedupError(f"clusters: {k} clusters need between 1 and {len(x)} (the clustered rows) points")
    faiss.omp_set_num_threads(int(threads))
    km = faiss.Kmeans(x.shape[1], k, niter=int(niter), seed=int(seed), spherical=True, verbose=False,
                      max_points_per_centroid=int(max_points_per_centroid), gpu=bool(gpus))
    km.train(x)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def nearest_centroid(x: np.ndarray, centroids: np.ndarray, batch: int = 65536, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Each row's centroid of largest inner product and that inner product (the cosine, both being
    unit vectors: what the reference's spherical index returns as its "distance")."""
    import faiss

    x = np.asarray(x, dtype=np.float32)
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    lab = np.zeros(len(x), np.int64)
    sim = np.zeros(len(x), np.float32)
    if len(x):
        if x.shape[1] != c.shape[1]:
            raise DedupError(f"embeddings of dimension {x.shape[1]}, centroids of dimension {c.shape[1]}")
        faiss.omp_set_num_threads(int(threads))
        index = faiss.IndexFlatIP(c.shape[1])
        index.add(c)
        for lo in range(0, len(x), batch):
            d, i = index.search(np.ascontiguousarray(x[lo:lo + batch]), 1)
            lab[lo:lo + batch], sim[lo:lo + batch] = i[:, 0], d[:, 0]
    return lab, sim


def semdedup_memory(x: np.ndarray, centroids: np.ndarray, eps: float, which: str = "hard",
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SemDeDup over all rows at once (the reference for the staged path): assign, then per cluster
    :func:`semdedup_keep`. Returns keep and ``M`` in row order."""
    lab, sim = nearest_centroid(x, centroids)
    keep = np.ones(len(x), bool)
    m = np.zeros(len(x), np.float32)
    for c in np.unique(lab):
        rows = np.flatnonzero(lab == c)
        k, mm = semdedup_keep(x[rows], sim[rows], eps, which, np.random.default_rng([int(seed), int(c)]))
        keep[rows], m[rows] = k, mm
    return keep, m
