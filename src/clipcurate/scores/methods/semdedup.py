"""SemDeDup (Abbas et al. 2023; facebookresearch/SemDeDup): semantic near-duplicates within k-means
clusters of the image embeddings, staged (:mod:`clipcurate.scores.stages`) so that it runs at 128M.

``prepare`` (per chunk)
    The chunk's share of the clustering sample: its image embeddings, or with ``sample_ratio`` a
    random ``int(n * ratio)`` of them (seeded by ``seed`` and the chunk).
``fit`` (once)
    faiss spherical k-means (``faiss.Kmeans(spherical=True)``, as the reference's
    ``clustering/clustering.py``): ``clusters`` centroids, ``niter`` iterations, seed ``seed``
    (the reference: 50,000 clusters, 100 iterations, seed 1234). The reference leaves faiss's
    ``max_points_per_centroid`` at its default, 256, so faiss clusters a random ``clusters * 256``
    rows (12.8M at 50,000 clusters); here more sample rows than ``clusters *
    max_points_per_centroid`` (default 256 likewise) are cut to a uniform random subset while
    streaming, so the rest is never loaded.
``apply`` (per chunk)
    Each image to its nearest centroid by inner product (the spherical index; the reference reads
    this "distance" as the cosine to the centroid); the member arrays are its embedding and that cosine.
``group`` (per cluster)
    The reference's within-cluster dedup (:func:`clipcurate.pool.dedup.semdedup_keep`): members sorted
    by cosine distance to the centroid, descending for ``which_to_keep: hard`` (the default: the
    member farthest from the centroid comes first and is kept), ascending for ``easy``, shuffled
    (seed ``seed`` and the cluster) for ``random``; ties in pool order (Python's stable sort).
    Member j is removed when its largest cosine to any **earlier** member (kept or removed: chains
    A~B~C remove B and C) exceeds ``1 - eps``. Singletons are kept. Duplicates in different
    clusters are never compared (as in the reference).

Outputs: ``keep``, and ``score`` = ``1 - M_j`` with ``M_j`` that largest earlier cosine (0 for a
cluster's first member): the sample is kept for every ``eps <= score``, so one score file serves
a sweep of eps (the reference evaluates several eps in one pass). The embeddings must be
L2-normalised (the workflow's are); the reference uses the dot product as the cosine.
"""

from __future__ import annotations

import numpy as np

from clipcurate.pool import dedup as D
from clipcurate.scores import register
from clipcurate.scores.methods.image_filter import fit_sample
from clipcurate.scores.inputs import Embeddings
from clipcurate.scores.stages import Resources, Stages, emb_batches


def check_params(entry, key, positive=("clusters", "niter", "max_points_per_centroid", "group_shards")):
    """Shared checks of the clustering parameters (also used by ``near_dup``)."""
    p = entry.get("params") or {}
    for name in positive:
        if name in p and (not isinstance(p[name], int) or isinstance(p[name], bool) or p[name] < 1):
            raise ValueError(f"config: {key}.params.{name}: expected a positive integer, got {p[name]!r}")
    ratio = p.get("sample_ratio")
    if ratio is not None and not (isinstance(ratio, (int, float)) and 0 < float(ratio) <= 1):
        raise ValueError(f"config: {key}.params.sample_ratio: expected a number in (0, 1] or null, got {ratio!r}")


def _check(entry, config, key):
    check_params(entry, key)
    p = entry.get("params") or {}
    eps = p.get("eps", 0.07)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0 <= float(eps) <= 1):
        raise ValueError(f"config: {key}.params.eps: expected a number in [0, 1] (remove when cosine > 1 - eps), got {eps!r}")
    if p.get("which_to_keep", "hard") not in ("hard", "easy", "random"):
        raise ValueError(f"config: {key}.params.which_to_keep: expected hard, easy or random, got {p['which_to_keep']!r}")


def prepare(params: dict, ctx, emb) -> dict[str, np.ndarray]:
    """The chunk's rows for the k-means sample (all, or a seeded ``sample_ratio`` of them)."""
    parts = []
    ratio = params["sample_ratio"]
    rng = np.random.default_rng([int(params["seed"]), int(ctx.chunk)])
    for lo, hi, batch in emb_batches(emb, ("image",)):
        x = np.asarray(batch["image"], np.float32)
        if ratio is not None:
            x = x[rng.random(len(x)) < float(ratio)]
        parts.append(x)
    d = parts[0].shape[1] if parts else 0
    return {"sample": np.concatenate(parts) if parts else np.zeros((0, d), np.float32)}


def fit(params: dict, ctx, prepared) -> dict[str, np.ndarray]:
    """Spherical k-means centroids of the chunks' samples (in chunk order)."""
    k = int(params["clusters"])
    x = fit_sample(prepared, k * int(params["max_points_per_centroid"]), int(params["seed"]))
    if len(x) < k:
        raise D.DedupError(f"clusters: {k} clusters but the sample holds {len(x)} rows; lower params.clusters "
                           "(or raise sample_ratio)")
    c = D.spherical_kmeans(x, k, int(params["niter"]), int(params["seed"]), ctx.threads,
                           int(params["max_points_per_centroid"]), ctx.gpus)
    return {"centroids": c}


def group(params: dict, ctx, fitted, members) -> dict[str, np.ndarray]:
    """One cluster: the reference's order and removal rule."""
    cluster = int(members["group"][0])
    keep, m = D.semdedup_keep(members["x"], members["sim"], float(params["eps"]), params["which_to_keep"],
                              np.random.default_rng([int(params["seed"]), cluster]))
    return {"keep": keep, "score": (1.0 - m).astype(np.float32)}


@register(
    "semdedup",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model", modalities=("image",))},
    outputs=("score", "keep"),
    defaults={"clusters": 50000, "niter": 100, "seed": 1234, "eps": 0.07, "which_to_keep": "hard",
              "sample_ratio": None, "max_points_per_centroid": 256, "group_shards": 64},
    check=_check,
    stages=Stages(prepare=prepare, prepare_inputs=("emb",), fit=fit, group=group, apply_inputs=("emb",)),
    resources={"prepare": Resources(mem_mb=8000, runtime=60), "fit": Resources(mem_mb=64000, runtime=480, threads=8),
               "apply": Resources(mem_mb=8000, runtime=60, threads=2), "group": Resources(mem_mb=32000, runtime=240, threads=4),
               "gather": Resources(mem_mb=16000, runtime=60)},
)
def semdedup(params: dict, ctx, fitted: dict, prepared: dict, emb) -> dict[str, np.ndarray]:
    """Per chunk: each row's cluster, and its embedding and cosine to the centroid for the group stage."""
    n = len(emb["uid"])
    lab = np.zeros(n, np.int64)
    sim = np.zeros(n, np.float32)
    x = None
    for lo, hi, batch in emb_batches(emb, ("image",)):
        b = np.asarray(batch["image"], np.float32)
        if x is None:
            x = np.empty((n, b.shape[1]), np.float32)
        x[lo:hi] = b
        lab[lo:hi], sim[lo:hi] = D.nearest_centroid(b, fitted["centroids"], threads=ctx.threads)
    if x is None:
        x = np.zeros((0, fitted["centroids"].shape[1]), np.float32)
    return {"keep": np.ones(n, bool), "score": np.ones(n, np.float32), "group": lab,
            "members": {"x": x, "sim": sim}}
