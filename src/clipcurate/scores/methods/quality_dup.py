"""Quality-based duplication ("The Devil is in the Details", §3.3): spend the samples-seen budget on
the better samples by repeating them. Within each k-means cluster of image embeddings the survivors
of the previous stage (``base``) are ranked by a quality score (``quality``: the flipped-CLIP score,
``clip_score_hflip``); the top part gets ``w2`` copies and the rest ``w1``
(:func:`clipcurate.scores.helpers.alignment.quality_counts`). The paper compares (w1, w2) = (1, 2) and (1, 3)
(config ``quality_dup_12`` and ``quality_dup_13``). The output is repeat counts (``count``, uint32)
that the ``counts`` sampler writes into the subset and ``reshard`` repeats.

How the top part is chosen is not given; here it is the ``top_fraction`` best survivors of each
cluster (``round(top_fraction * n)``, halves up), ties broken by pool order. Ranking within clusters
rather than over the pool keeps every cluster's share of the data (a cluster of low-scoring but
useful concepts is not starved); a base count above 1 (a sample CIDS drew twice) is multiplied.

A staged method with a group stage (:mod:`clipcurate.scores.stages`, :mod:`clipcurate.scores.groups`),
so that it runs at 128M rows:

``prepare`` (per chunk)
    a sample of the survivors' image embeddings (all, or ``sample_ratio`` of them) for the k-means;
``fit`` (once)
    faiss k-means into ``centroids`` clusters, or the centroids of ``centroids_file`` (e.g. CIDS's
    artifact ``results/scores/cids/fit.npz``: the same clusters as CIDS; the file is then an input
    of the fit job, so Snakemake runs CIDS's fit first);
``apply`` (per chunk)
    each survivor's cluster, and its quality and base count as the group stage's member arrays;
``group`` (``group_shards`` jobs)
    per cluster, the counts of its members (all of a cluster's members are in one job).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clipcurate.scores.helpers import alignment as A
from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores import register
from clipcurate.scores.methods.image_filter import fit_sample
from clipcurate.scores.inputs import Embeddings, Scores
from clipcurate.scores.stages import GROUP_SHARDS, Resources, Stages, emb_batches, emb_take


def check(entry, config, key):
    A.check_base(entry, config, key)
    p = entry.get("params") or {}
    for name in ("w1", "w2"):
        if name in p and (isinstance(p[name], bool) or not isinstance(p[name], int) or p[name] < 0):
            raise ValueError(f"config: {key}.params.{name}: expected a non-negative integer (copies), got {p[name]!r}")
    w1, w2 = p.get("w1", DEFAULTS["w1"]), p.get("w2", DEFAULTS["w2"])
    if w2 < w1:
        raise ValueError(f"config: {key}.params: w2 ({w2}) is the top part's copies and must be >= w1 ({w1})")
    t = p.get("top_fraction", DEFAULTS["top_fraction"])
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
        raise ValueError(f"config: {key}.params.top_fraction: expected a number in [0, 1], got {t!r}")
    for name in ("centroids", "niter", "max_points_per_centroid", GROUP_SHARDS):
        if name in p and (isinstance(p[name], bool) or not isinstance(p[name], int) or p[name] < 1):
            raise ValueError(f"config: {key}.params.{name}: expected a positive integer, got {p[name]!r}")
    ratio = p.get("sample_ratio")
    if ratio is not None and not (isinstance(ratio, (int, float)) and 0 < float(ratio) <= 1):
        raise ValueError(f"config: {key}.params.sample_ratio: expected a number in (0, 1] or null, got {ratio!r}")
    f = p.get("centroids_file")
    if f is not None and Path(str(f)).suffix not in (".npz", ".npy", ".pt"):
        raise ValueError(f"config: {key}.params.centroids_file: expected a .npz stage artifact (key 'centroids'), "
                         f"a .npy or DataComp's .pt centroids, got {f!r}")


def prepare(params: dict, ctx, emb, base: dict) -> dict[str, np.ndarray]:
    """The chunk's sample of its survivors' image embeddings (none when the centroids are given)."""
    counts = A.single_base(base, f"chunk {ctx.chunk}: base")
    rows = np.flatnonzero(counts > 0)
    if params["centroids_file"]:
        rows = rows[:0]
    elif params["sample_ratio"] is not None and len(rows):
        rng = np.random.default_rng([int(params["seed"]), int(ctx.chunk)])
        rows = rows[rng.integers(0, len(rows), size=int(len(rows) * float(params["sample_ratio"])))]
    return {"sample": np.ascontiguousarray(emb_take(emb, rows, "image"), dtype=np.float32)}


def fit(params: dict, ctx, prepared) -> dict[str, np.ndarray]:
    """The clusters: k-means of the survivors' sample, or the given centroids."""
    if params["centroids_file"]:
        return {"centroids": A.load_centroids(params["centroids_file"])}
    k = int(params["centroids"])
    x = fit_sample(prepared, k * int(params["max_points_per_centroid"]), int(params["seed"]))
    if len(x) < k:
        raise A.AlignmentError(f"quality_dup: {k} centroids but {len(x)} sampled survivors; lower params.centroids")
    return {"centroids": F.train_centroids(x, k, niter=int(params["niter"]), seed=int(params["seed"]), threads=ctx.threads,
                                           max_points_per_centroid=int(params["max_points_per_centroid"]), gpus=ctx.gpus)}


def group(params: dict, ctx, fitted, members) -> dict[str, np.ndarray]:
    """One cluster's repeat counts (members in pool order)."""
    count = A.quality_counts(members["q"], members["base"], members["row"], int(params["w1"]), int(params["w2"]),
                             float(params["top_fraction"]))
    return {"count": count, "keep": count > 0}


DEFAULTS = {"w1": 1, "w2": 2, "top_fraction": 0.5, "centroids": 1000, "niter": 20, "sample_ratio": None,
            "max_points_per_centroid": 10_000_000, "centroids_file": None, "seed": 0, GROUP_SHARDS: 8}


@register(
    "quality_dup",
    level="chunk",
    inputs={
        "emb": Embeddings(model_key="model", variant="plain", variant_key=None, modalities=("image",)),
        "quality": Scores(key="quality"),
        "base": Scores(key="base"),
    },
    outputs=("count", "keep"),
    defaults=DEFAULTS,
    check=check,
    stages=Stages(prepare=prepare, prepare_inputs=("emb", "base"), fit=fit, group=group,
                  apply_inputs=("emb", "quality", "base"), param_files={"fit": ("centroids_file",)}),
    resources={"prepare": Resources(mem_mb=8000, runtime=60), "fit": Resources(mem_mb=32000, runtime=240, threads=4),
               "apply": Resources(mem_mb=8000, runtime=60, threads=2), "group": Resources(mem_mb=16000, runtime=60),
               "gather": Resources(mem_mb=16000, runtime=60)},
)
def quality_dup(params: dict, ctx, fitted: dict, prepared: dict, emb, quality: dict, base: dict) -> dict[str, np.ndarray]:
    """One chunk's clusters (survivors only) and the members' quality and base count."""
    counts = A.single_base(base, f"chunk {ctx.chunk}: base")
    if len(quality) != 1:
        raise A.AlignmentError(f"chunk {ctx.chunk}: quality names {len(quality)} columns; name one score column")
    q = np.asarray(next(iter(quality.values())), dtype=np.float32)
    n = len(counts)
    grp = np.full(n, -1, np.int64)
    for lo, hi, batch in emb_batches(emb, ("image",)):
        rows = np.flatnonzero(counts[lo:hi] > 0)
        if rows.size:
            grp[lo + rows] = F.assign_centroids(batch["image"][rows], fitted["centroids"], gpus=ctx.gpus)
    zero = np.zeros(n, np.uint32)
    return {"count": zero, "keep": zero > 0, "group": grp, "members": {"q": q, "base": counts}}
