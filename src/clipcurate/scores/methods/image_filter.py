"""DataComp's image-based filter: keep pool samples whose image falls in a k-means cluster that also
holds a downstream-train (ImageNet-train) image. A staged method (:mod:`clipcurate.scores.stages`),
so that it runs at 128M rows without holding the pool:

``prepare`` (per chunk)
    Caption pre-filter: English (fastText lid.176), more than 1 fastText token, more than 5
    characters. The chunk's pre-filtered image embeddings are its contribution to the fit; with
    ``sample_ratio`` a random int(n * ratio) of them, drawn with replacement, as DataComp's
    ``image_based_clustering.py`` draws per metadata file (``np.random.choice``; seeded here by
    ``seed`` and the chunk). DataComp used 0.3 at large and 0.03 at xlarge, none below.
``fit`` (once)
    faiss k-means (L2, ``niter`` iterations, seed ``seed``) of the chunks' samples, in chunk order,
    into ``centroids`` clusters, with DataComp's ``max_points_per_centroid`` (10M: faiss clusters
    every row). When the samples hold more than ``centroids * max_points_per_centroid`` rows the fit
    keeps a uniform random subset of that size (what faiss's own sub-sampling would draw, drawn here
    while streaming the samples so that the rest is never loaded). With ``centroids_file`` the
    centroids are DataComp's released ones (``{scale}_centroids_l14.pt``, or a ``.npy``) and nothing
    is clustered. The fit also assigns each downstream image to its centroid: the target clusters.
    faiss runs on the GPU when one is there (``faiss.get_num_gpus() > 0``), on the CPU otherwise.
``apply`` (per chunk)
    Each pre-filtered image goes to the centroid with the largest inner product (DataComp's
    assignment, with the raw centroids); a sample is kept when its centroid is a target cluster.

The chunk-order concatenation of the per-chunk samples equals the in-memory path's pre-filtered rows
in pool order, so without ``sample_ratio`` the staged result is the in-memory result
(tests/unit/test_stages.py checks it). DataComp clusters OpenAI L/14 image embeddings into 100K
centroids; the tiny world's config scales the number of centroids to its pool.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores.helpers import langid
from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings, Metadata, Reference
from clipcurate.scores.stages import Resources, Stages, emb_batches, emb_take


def _check(entry, config, key):
    p = entry.get("params") or {}
    ratio = p.get("sample_ratio")
    if ratio is not None and not (0 < float(ratio) <= 1):
        raise ValueError(f"config: {key}.params.sample_ratio: expected a number in (0, 1] or null, got {ratio!r}")
    if ratio is not None and p.get("centroids_file"):
        raise ValueError(f"config: {key}.params: sample_ratio samples the rows to cluster, but centroids_file gives "
                         "the centroids (nothing is clustered); set one of them")
    for name in ("centroids", "max_points_per_centroid", "niter"):
        if name in p and (not isinstance(p[name], int) or p[name] < 1):
            raise ValueError(f"config: {key}.params.{name}: expected a positive integer, got {p[name]!r}")


def prepare(params: dict, ctx, emb: dict, meta) -> dict[str, np.ndarray]:
    """The chunk's caption pre-filter and its sample of pre-filtered image embeddings."""
    texts = meta.column("text").to_pylist()
    english = langid.is_english(texts, langid.load_model(params["lid_model"]), threads=ctx.threads)
    pre = F.caption_prefilter(texts, english)
    rows = np.flatnonzero(pre)
    if params["centroids_file"]:
        rows = rows[:0]
    elif params["sample_ratio"] is not None and len(rows):
        rng = np.random.default_rng([int(params["seed"]), int(ctx.chunk)])
        rows = rows[rng.integers(0, len(rows), size=int(len(rows) * float(params["sample_ratio"])))]
    # only the sampled rows are read (row group by row group), never the chunk's whole image column
    return {"prefilter": pre, "sample": np.ascontiguousarray(emb_take(emb, rows, "image"), dtype=np.float32)}


def fit_sample(prepared, cap: int, seed: int) -> np.ndarray:
    """Every chunk's ``sample`` rows in chunk order, or a uniform random ``cap`` of them (kept in
    order) when there are more; read one chunk at a time, holding only what is kept."""
    sizes = [prepared.shape(i, "sample") for i in range(len(prepared))]
    total = sum(s[0] for s in sizes)
    if not sizes or total == 0:
        return np.zeros((0, 0), np.float32)
    d = max(s[1] for s in sizes)
    chosen = None
    if total > cap:
        chosen = np.sort(np.random.default_rng(seed).choice(total, size=cap, replace=False))
    out = np.empty((total if chosen is None else cap, d), np.float32)
    start = filled = 0
    for i, (n, _) in enumerate(sizes):
        if n:
            if chosen is None:
                out[filled:filled + n] = prepared[i]["sample"]
                filled += n
            else:
                lo, hi = np.searchsorted(chosen, [start, start + n])
                if hi > lo:
                    out[filled:filled + hi - lo] = prepared[i]["sample"][chosen[lo:hi] - start]
                    filled += hi - lo
        start += n
    return out


def fit(params: dict, ctx, prepared, ref: dict) -> dict[str, np.ndarray]:
    """Centroids (fitted, or DataComp's released ones) and the target clusters of the downstream images."""
    if params["centroids_file"]:
        c = F.load_centroids(params["centroids_file"])
    else:
        k = int(params["centroids"])
        x = fit_sample(prepared, k * int(params["max_points_per_centroid"]), int(params["seed"]))
        if len(x) == 0:
            return {"centroids": np.zeros((0, ref["image"].shape[1]), np.float32), "target": np.zeros(0, np.int64)}
        c = F.train_centroids(x, k, niter=int(params["niter"]), seed=int(params["seed"]), threads=ctx.threads,
                              max_points_per_centroid=int(params["max_points_per_centroid"]), gpus=ctx.gpus)
    if c.shape[1] != ref["image"].shape[1]:
        raise F.FilterError(f"centroids of dimension {c.shape[1]}, but the embeddings have dimension {ref['image'].shape[1]} "
                            "(DataComp's released centroids are of OpenAI L/14 image embeddings: 768)")
    target = np.unique(F.assign_centroids(ref["image"], c, gpus=ctx.gpus))
    return {"centroids": c, "target": target}


@register(
    "image_based",
    level="chunk",
    inputs={
        "emb": Embeddings(model_key="model", variant="plain", modalities=("image",)),
        "ref": Reference(set="downstream", model_key="model", set_key="reference", modalities=("image",)),
        "meta": Metadata(columns=("text",)),
    },
    outputs=("keep",),
    defaults={"centroids": 100000, "niter": 20, "sample_ratio": None, "seed": 0, "lid_model": None,
              "max_points_per_centroid": 10_000_000, "centroids_file": None},
    check=_check,
    stages=Stages(prepare=prepare, prepare_inputs=("emb", "meta"), fit=fit, fit_inputs=("ref",), apply_inputs=("emb",),
                  param_files={"prepare": ("lid_model",), "fit": ("centroids_file",)}),
    resources={"prepare": Resources(mem_mb=8000, runtime=60), "fit": Resources(mem_mb=16000, runtime=240, threads=4),
               "apply": Resources(mem_mb=8000, runtime=60, threads=2), "gather": Resources(mem_mb=16000, runtime=60)},
)
def image_based(params: dict, ctx, fitted: dict, prepared: dict, emb: dict) -> dict[str, np.ndarray]:
    """Keep mask of DataComp's image-based filter for one chunk."""
    pre = prepared["prefilter"]
    if len(pre) != len(emb["uid"]):
        raise F.FilterError(f"chunk {ctx.chunk}: the prepared pre-filter has {len(pre)} rows, the embeddings "
                            f"{len(emb['uid'])}; rerun this chunk's score_prepare job")
    keep = np.zeros(len(pre), dtype=bool)
    if not pre.any() or not len(fitted["centroids"]):
        return {"keep": keep}
    for lo, hi, batch in emb_batches(emb, ("image",)):  # a row group at a time
        rows = np.flatnonzero(pre[lo:hi])
        if rows.size:
            labels = F.assign_centroids(batch["image"][rows], fitted["centroids"], gpus=ctx.gpus)
            keep[lo + rows] = np.isin(labels, fitted["target"])
    return {"keep": keep}
