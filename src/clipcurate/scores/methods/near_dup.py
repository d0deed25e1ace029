"""Embedding near duplicates: samples whose image embeddings have cosine >= ``threshold``, found with
faiss, staged (:mod:`clipcurate.scores.stages`) so that it runs at 128M (DataComp's L/14 ``.npz``
image embeddings at real scale, through a ``precomputed`` model).

All-pairs search over 128M vectors is out of reach, so the pool is cut into coarse clusters first,
as SemDeDup does: ``prepare`` samples each chunk, ``fit`` trains faiss spherical k-means
(``clusters`` centroids), ``apply`` assigns each image to its nearest centroid, and ``group``
searches each cluster exhaustively (faiss ``IndexFlatIP.range_search``) for pairs with cosine >=
``threshold``. Duplicate groups are the connected components of those pairs; the member **first
in pool order** is kept (:mod:`clipcurate.pool.dedup`). Two near duplicates assigned to different
coarse clusters are missed: at a high threshold they lie close together and almost always share
their nearest centroid (the tests measure it on crafted duplicates); fewer clusters miss fewer but
make the group jobs larger (quadratic in the cluster size).

Outputs: ``keep``; ``score`` = 1 / (the size of the sample's duplicate group), so the report can
count the groups found (:func:`clipcurate.pool.dedup.groups_from_score`).
"""

from __future__ import annotations

import numpy as np

from clipcurate.pool import dedup as D
from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings
from clipcurate.scores.methods.semdedup import check_params, fit, prepare, semdedup
from clipcurate.scores.stages import Resources, Stages


def _check(entry, config, key):
    check_params(entry, key)
    t = (entry.get("params") or {}).get("threshold", 0.95)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (-1 <= float(t) <= 1):
        raise ValueError(f"config: {key}.params.threshold: expected a cosine in [-1, 1], got {t!r}")


def group(params: dict, ctx, fitted, members) -> dict[str, np.ndarray]:
    """One coarse cluster: components of cosine >= threshold; the first member in pool order is kept."""
    keep, size = D.near_groups(members["x"], float(params["threshold"]), ctx.threads)
    return {"keep": keep, "score": D.dup_score(size)}


@register(
    "near_dup",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model", modalities=("image",))},
    outputs=("score", "keep"),
    defaults={"threshold": 0.95, "clusters": 50000, "niter": 20, "seed": 0, "sample_ratio": None,
              "max_points_per_centroid": 256, "group_shards": 64},
    check=_check,
    stages=Stages(prepare=prepare, prepare_inputs=("emb",), fit=fit, group=group, apply_inputs=("emb",)),
    resources={"prepare": Resources(mem_mb=8000, runtime=60), "fit": Resources(mem_mb=64000, runtime=240, threads=8),
               "apply": Resources(mem_mb=8000, runtime=60, threads=2), "group": Resources(mem_mb=32000, runtime=240, threads=4),
               "gather": Resources(mem_mb=16000, runtime=60)},
)
def near_dup(params: dict, ctx, fitted: dict, prepared: dict, emb) -> dict[str, np.ndarray]:
    """Per chunk: each row's coarse cluster, and its embedding for the group stage."""
    out = semdedup(params, ctx, fitted, prepared, emb)
    out["members"] = {"x": out["members"]["x"]}
    return out
