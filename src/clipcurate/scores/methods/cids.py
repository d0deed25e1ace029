"""CIDS, cluster-importance-based data selection ("The Devil is in the Details", §3.3): resample the
survivors of the previous stages so that their distribution over k-means clusters of image embeddings
is the downstream-train set's (ImageNet-train in the paper; the tiny world's ``downstream`` set, or a
user's reference set at real scale). Pure parts: :mod:`clipcurate.scores.helpers.alignment`.

A staged method (:mod:`clipcurate.scores.stages`), so that it runs at 128M rows:

``prepare`` (per chunk)
    The chunk's base survivors (``base``: the previous stage's keep or count column), their number,
    the chunk's rows, and a sample of their image embeddings for the k-means (all of them, or with
    ``sample_ratio`` int(n * ratio) drawn with replacement, seeded by ``seed`` and the chunk, as the
    image-based filter samples).
``fit`` (once)
    faiss k-means of the samples into ``centroids`` clusters (DataComp's settings,
    :func:`clipcurate.scores.helpers.datacomp_filters.train_centroids`); the downstream images and the sample assigned
    to them (largest inner product); the pool's survivors per cluster (exact without ``sample_ratio``:
    every survivor is in the sample; otherwise the sample's shares times the exact number of
    survivors; with ``centroids_file``, given centroids such as DataComp's released ones, each
    prepare job assigns its survivors and the totals are exact at any size); each cluster's importance (:func:`~clipcurate.scores.helpers.alignment.cluster_importance`) and its
    expected draws per sample (:func:`~clipcurate.scores.helpers.alignment.draw_rates`) for the target size
    ``n_target`` (or ``fraction`` of the pool's rows). Artifact: ``results/scores/<name>/fit.npz``.
``apply`` (per chunk)
    Each survivor is assigned to its cluster and drawn independently with the cluster's rate, from a
    generator seeded by ``seed`` and the chunk (:func:`~clipcurate.scores.helpers.alignment.draw_counts`): Poisson
    counts with ``replace: true`` (sampling with replacement), a keep with probability min(1, rate)
    with ``replace: false``. Nothing but the per-cluster totals crosses chunks, so the apply jobs are
    independent and each holds one parquet row group of embeddings.

Outputs: ``count`` (how many times each sample enters the training set; 0 for the base's dropped
rows), ``keep`` (count > 0) and ``score`` (the importance of the sample's cluster; 0 for dropped rows).
A recipe samples ``cids:count`` with ``sample: {method: counts}`` or ``cids:keep`` with ``keep``.

Readings where the paper is open (parameters): the clusters are of the pool's survivors, not of the
whole pool; importance is the ratio of shares (not a similarity); the draws are with replacement by
default (a cluster that downstream data asks more of than the pool holds is repeated rather than
capped; ``replace: false`` caps it); the base's repeat counts are not multiplied (a survivor counts
once in the shares and is drawn like any other).
"""

from __future__ import annotations

import logging

import numpy as np

from clipcurate.scores.helpers import alignment as A
from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores import register
from clipcurate.scores.methods.image_filter import fit_sample
from clipcurate.scores.inputs import Embeddings, Reference, Scores
from clipcurate.scores.stages import Resources, Stages, emb_batches, emb_take

log = logging.getLogger(__name__)


def check(entry, config, key):
    A.check_base(entry, config, key)
    """Parameters the schema cannot express: one target size, ranges."""
    p = entry.get("params") or {}
    ratio = p.get("sample_ratio")
    if ratio is not None and not (isinstance(ratio, (int, float)) and 0 < float(ratio) <= 1):
        raise ValueError(f"config: {key}.params.sample_ratio: expected a number in (0, 1] or null, got {ratio!r}")
    for name in ("centroids", "niter", "max_points_per_centroid"):
        if name in p and (isinstance(p[name], bool) or not isinstance(p[name], int) or p[name] < 1):
            raise ValueError(f"config: {key}.params.{name}: expected a positive integer, got {p[name]!r}")
    n, frac = p.get("n_target"), p.get("fraction")
    if n is not None and frac is not None:
        raise ValueError(f"config: {key}.params: give one of n_target (draws) and fraction (of the pool's rows), not "
                         f"both; got n_target={n!r}, fraction={frac!r}")
    if n is None and "fraction" in p and frac is None:
        raise ValueError(f"config: {key}.params: fraction is null, so n_target (draws) is needed")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"config: {key}.params.n_target: expected a positive integer, got {n!r}")
    if frac is not None and not (isinstance(frac, (int, float)) and not isinstance(frac, bool) and frac > 0):
        raise ValueError(f"config: {key}.params.fraction: expected a number > 0 (draws per pool row), got {frac!r}")
    s = p.get("smoothing", 0.0)
    if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
        raise ValueError(f"config: {key}.params.smoothing: expected a number >= 0, got {s!r}")
    f = p.get("centroids_file")
    if f is not None and str(f).rsplit(".", 1)[-1] not in ("npz", "npy", "pt"):
        raise ValueError(f"config: {key}.params.centroids_file: expected a .npz stage artifact (key 'centroids'), "
                         f"a .npy or DataComp's .pt centroids, got {f!r}")
    if p.get("centroids_file") is not None and p.get("sample_ratio") is not None:
        raise ValueError(f"config: {key}.params: sample_ratio samples the survivors to cluster, but centroids_file gives "
                         "the centroids (nothing is clustered; every survivor is counted); set one of them")
    if not isinstance(p.get("replace", True), bool):
        raise ValueError(f"config: {key}.params.replace: expected true (counts, with replacement) or false (keep), "
                         f"got {p.get('replace')!r}")


def prepare(params: dict, ctx, emb, base: dict) -> dict[str, np.ndarray]:
    """The chunk's survivors and its sample of their image embeddings for the k-means; with given
    centroids (``centroids_file``) instead its survivors per cluster (exact totals, no sample)."""
    counts = A.single_base(base, f"chunk {ctx.chunk}: base")
    rows = np.flatnonzero(counts > 0)
    n_kept = len(rows)
    if params["centroids_file"]:
        c = A.load_centroids(params["centroids_file"])
        per = np.zeros(len(c), np.int64)
        for lo, hi, batch in emb_batches(emb, ("image",)):  # a row group at a time
            r = np.flatnonzero(counts[lo:hi] > 0)
            if r.size:
                per += np.bincount(F.assign_centroids(batch["image"][r], c, gpus=ctx.gpus), minlength=len(c))
        return {"sample": np.zeros((0, c.shape[1]), np.float32), "cluster_counts": per,
                "n_kept": np.array([n_kept], np.int64), "n_rows": np.array([len(counts)], np.int64)}
    if params["sample_ratio"] is not None and len(rows):
        rng = np.random.default_rng([int(params["seed"]), int(ctx.chunk)])
        rows = rows[rng.integers(0, len(rows), size=int(len(rows) * float(params["sample_ratio"])))]
    return {"sample": np.ascontiguousarray(emb_take(emb, rows, "image"), dtype=np.float32),
            "n_kept": np.array([n_kept], np.int64), "n_rows": np.array([len(counts)], np.int64)}


def n_target(params: dict, n_rows: int) -> int:
    """The target number of draws: ``n_target`` when set, else ``round(fraction * pool rows)``."""
    if params["n_target"] is not None:
        return int(params["n_target"])
    return int(round(float(params["fraction"]) * n_rows))


def fit(params: dict, ctx, prepared, ref: dict) -> dict[str, np.ndarray]:
    """Centroids, the per-cluster totals (pool survivors, downstream images), importance and rates."""
    n_rows = n_kept = 0
    for i in range(len(prepared)):
        part = prepared[i]
        n_rows += int(part["n_rows"][0])
        n_kept += int(part["n_kept"][0])
    d = ref["image"].shape[1]
    if params["centroids_file"]:
        c = A.load_centroids(params["centroids_file"])
        if c.shape[1] != d:
            raise A.AlignmentError(f"cids: centroids of dimension {c.shape[1]}, downstream embeddings of {d}")
        pool = np.zeros(len(c), np.float64)
        for i in range(len(prepared)):
            pool += prepared[i]["cluster_counts"]  # exact: every survivor assigned in its chunk's prepare
        return _weights(params, ctx, c, pool, ref, n_rows, n_kept)
    k = int(params["centroids"])
    x = fit_sample(prepared, k * int(params["max_points_per_centroid"]), int(params["seed"]))
    if len(x) == 0:
        raise A.AlignmentError("cids: the base keeps no pool sample; nothing to cluster")
    if x.shape[1] != d:
        raise A.AlignmentError(f"cids: pool embeddings of dimension {x.shape[1]}, downstream of {d}; use one model")
    if len(x) < k:
        raise A.AlignmentError(f"cids: {k} centroids but only {len(x)} sampled survivors; lower params.centroids")
    c = F.train_centroids(x, k, niter=int(params["niter"]), seed=int(params["seed"]), threads=ctx.threads,
                          max_points_per_centroid=int(params["max_points_per_centroid"]), gpus=ctx.gpus)
    sample_counts = np.bincount(F.assign_centroids(x, c, gpus=ctx.gpus), minlength=k).astype(np.float64)
    pool = sample_counts * (n_kept / len(x))  # exact when the sample is every survivor
    return _weights(params, ctx, c, pool, ref, n_rows, n_kept)


def _weights(params, ctx, c, pool, ref, n_rows, n_kept) -> dict[str, np.ndarray]:
    """The fit's artifact from the centroids and the survivors per cluster."""
    k = len(c)
    refc = np.bincount(F.assign_centroids(ref["image"], c, gpus=ctx.gpus), minlength=k).astype(np.float64)
    imp = A.cluster_importance(pool, refc, float(params["smoothing"]))
    target = n_target(params, n_rows)
    rates = A.draw_rates(pool, imp, target)
    if not params["replace"] and (rates > 1).any():
        short = float(((rates - 1).clip(0) * pool).sum())
        log.warning("cids without replacement: %d clusters ask for more than all their samples; the subset falls "
                    "about %.0f samples short of %d", int((rates > 1).sum()), short, target)
    return {"centroids": c, "pool_counts": pool, "ref_counts": refc, "importance": imp, "rates": rates,
            "n_target": np.array([target], np.int64), "n_rows": np.array([n_rows], np.int64),
            "n_kept": np.array([n_kept], np.int64)}


DEFAULTS = {"centroids": 1000, "niter": 20, "sample_ratio": None, "max_points_per_centroid": 10_000_000,
            "centroids_file": None, "n_target": None, "fraction": 0.2, "replace": True, "smoothing": 0.0, "seed": 0}


@register(
    "cids",
    level="chunk",
    inputs={
        "emb": Embeddings(model_key="model", variant="plain", variant_key=None, modalities=("image",)),
        "ref": Reference(set="downstream", model_key="model", set_key="reference", modalities=("image",)),
        "base": Scores(key="base"),
    },
    outputs=("count", "keep", "score"),
    defaults=DEFAULTS,
    check=check,
    stages=Stages(prepare=prepare, prepare_inputs=("emb", "base"), fit=fit, fit_inputs=("ref",),
                  apply_inputs=("emb", "base"), param_files={"prepare": ("centroids_file",), "fit": ("centroids_file",)}),
    resources={"prepare": Resources(mem_mb=8000, runtime=60), "fit": Resources(mem_mb=32000, runtime=240, threads=4),
               "apply": Resources(mem_mb=8000, runtime=60, threads=2), "gather": Resources(mem_mb=16000, runtime=60)},
)
def cids(params: dict, ctx, fitted: dict, prepared: dict, emb, base: dict) -> dict[str, np.ndarray]:
    """One chunk's CIDS draws: counts (or keep), and each survivor's cluster importance as its score."""
    counts = A.single_base(base, f"chunk {ctx.chunk}: base")
    n = len(counts)
    count = np.zeros(n, np.uint32)
    score = np.zeros(n, np.float32)
    rng = np.random.default_rng([int(params["seed"]), int(ctx.chunk), 1])
    for lo, hi, batch in emb_batches(emb, ("image",)):  # a row group at a time
        rows = np.flatnonzero(counts[lo:hi] > 0)
        if rows.size:
            labels = F.assign_centroids(batch["image"][rows], fitted["centroids"], gpus=ctx.gpus)
            count[lo + rows] = A.draw_counts(fitted["rates"][labels], bool(params["replace"]), rng)
            score[lo + rows] = fitted["importance"][labels]
    return {"count": count, "keep": count > 0, "score": score}
