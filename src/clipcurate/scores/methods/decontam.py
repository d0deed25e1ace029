"""Decontamination: remove pool samples whose image is a near duplicate of an evaluation image.

The evaluation sets' test images are embedded by the score's ``model`` (rules/dedup.smk:
``results/dedup/eval_images/{model}.parquet``, every webdataset task of ``evaluation.suite`` under
its data root: the tiny world's tasks, or the user's DataComp evaluation downloads at real scale).
Per chunk, each pool image's largest cosine to any evaluation image is found with faiss (exact
inner-product search); the sample is removed when it is >= ``threshold``. A chunk-level method:
the evaluation set (tens of thousands of images at real scale) is small, so each chunk job holds it.

Outputs: ``keep``; ``score`` = 1 - that largest cosine (higher: farther from every evaluation image).
"""

from __future__ import annotations

import numpy as np

from clipcurate.pool import dedup as D
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings
from clipcurate.scores.stages import Resources

EVAL_IMAGES = "results/dedup/eval_images/{model}.parquet"


def _check(entry, config, key):
    t = (entry.get("params") or {}).get("threshold", 0.95)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (-1 <= float(t) <= 1):
        raise ValueError(f"config: {key}.params.threshold: expected a cosine in [-1, 1], got {t!r}")


@register("decontam", level="chunk",
          inputs={"emb": Embeddings(model_key="model", modalities=("image",)), "evals": Artifact(EVAL_IMAGES)},
          outputs=("score", "keep"), defaults={"threshold": 0.95, "threads": 1}, check=_check,
          resources={"apply": Resources(mem_mb=8000, runtime=60)})
def decontam(params: dict, emb, evals: str) -> dict[str, np.ndarray]:
    """Keep the samples whose image is below ``threshold`` cosine to every evaluation image."""
    from clipcurate.embed.encode import read_embeddings

    ref = read_embeddings(evals, columns=("image",))["image"]
    x = emb["image"]
    if len(ref) and len(x) and ref.shape[1] != x.shape[1]:
        raise D.DedupError(f"{evals}: evaluation embeddings of dimension {ref.shape[1]}, the pool's {x.shape[1]}; "
                           "embed both with the score's model")
    hit, best = D.matches_any(x, ref, float(params["threshold"]), threads=int(params["threads"]))
    return {"keep": ~hit, "score": (1.0 - best).astype(np.float32)}
