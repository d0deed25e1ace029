"""DataComp's image-based filter: keep pool samples whose image falls in a k-means cluster that also
holds a downstream-train (ImageNet-train) image.

1. Caption pre-filter: English (fastText lid.176), more than 1 fastText token, more than 5 characters.
2. faiss k-means (L2, ``niter`` iterations, no sub-sampling by faiss) of the pre-filtered pool's image
   embeddings into ``centroids`` clusters; with ``sample_ratio`` a random sample (drawn with
   replacement, seeded by ``seed``) is clustered, as DataComp did at large (0.3) and xlarge (0.03).
3. Each downstream image and each pre-filtered pool image goes to the centroid with the largest inner
   product (DataComp's assignment, with the raw centroids); a pool sample is kept when its centroid
   is the centroid of at least one downstream image.

DataComp clusters OpenAI L/14 image embeddings into 100K centroids (its released centroids are for
the 12.8M-12.8B pools); the tiny world's config scales the number of centroids to its pool. This is a
pool-level method: the whole pool's image embeddings are held in memory (float32, n x d).
"""

from __future__ import annotations

import numpy as np

from clipcurate import datacomp_filters as F
from clipcurate import langid
from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings, Metadata, Reference


@register(
    "image_based",
    level="pool",
    inputs={
        "emb": Embeddings(model_key="model", variant="plain"),
        "ref": Reference(set="downstream", model_key="model", set_key="reference"),
        "meta": Metadata(columns=("text",)),
    },
    outputs=("keep",),
    defaults={"centroids": 100000, "niter": 20, "sample_ratio": None, "seed": 0, "lid_model": None, "threads": 1},
)
def image_based(params: dict, emb: dict, ref: dict, meta) -> dict[str, np.ndarray]:
    """Keep mask of DataComp's image-based filter."""
    texts = meta.column("text").to_pylist()
    english = langid.is_english(texts, langid.load_model(params["lid_model"]), threads=int(params["threads"]))
    pre = F.caption_prefilter(texts, english)
    if not pre.any():
        return {"keep": pre}
    c = F.train_centroids(emb["image"][pre], int(params["centroids"]), niter=int(params["niter"]),
                          seed=int(params["seed"]), sample_ratio=params["sample_ratio"], threads=int(params["threads"]))
    keep, _ = F.image_based_keep(emb["image"], pre, c, ref["image"])
    return {"keep": keep}
