"""HYPE (Kim et al., ECCV 2024; naver-ai/hype): hyperbolic entailment filtering, per chunk.

Each pair gets three terms from a hyperbolic CLIP (:mod:`clipcurate.embed.hyperbolic`, whose docstring
gives the reading of the authors' code): ``neg_dist`` = ``-d_L(image, caption)`` (alignment in the
Lorentz model), ``eps_i`` and ``eps_t``, the image's and the caption's specificity against a
reference set of image and text embeddings (the mean exterior angle outside the entailment cones,
minus the aperture; raw differences, no ReLU), and ``score`` = their sum, HYPE's own mixing (FLYT
Table 10 "Original (sum scores)"; the ``hype_sum`` mix in config/mixes/hype.yaml gives the same from
the three columns). M-FLYT reads the terms as separate inputs: ``hype:neg_dist``, ``hype:eps_i``,
``hype:eps_t``.

The hyperbolic model is the ``train_hyperbolic`` trainer's artifact
(``results/hyperbolic/{hyperbolic}/model.pt``): towers over the frozen embeddings of the score's
``model``, which must be the one it was trained on (checked when the config is read). HYPE's
reference set (``reference.pt``) is undocumented in size and origin; here it is a reference set of
the workflow (``reference:``, default ``downstream``: the ImageNet-train analogue, ImageNet-1k train
at real scale, where every scale file defines it), subsampled to ``params.reference_size``
rows (seeded), so a chunk costs ``rows * reference_size`` cone angles, computed ``params.block``
rows at a time (no concatenation of the pool: every chunk is scored on its own).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings, Reference

#: the columns M-FLYT reads as ``hype:<column>``
TERMS = ("neg_dist", "eps_i", "eps_t")


def check_hype(entry, config, key):
    """The hyperbolic model's towers read the embeddings of the score's ``model``."""
    run = (config.get("hyperbolic") or {}).get(entry.get("hyperbolic")) or {}
    if entry.get("model") != run.get("model"):
        raise ValueError(
            f"config: {key}.model ({entry.get('model')!r}) must be the hyperbolic CLIP's embedding model "
            f"hyperbolic.{entry.get('hyperbolic')}.model ({run.get('model')!r})"
        )


def reference_rows(n: int, size: int, seed: int) -> np.ndarray:
    """The reference set's rows used (sorted): all when ``size`` is 0 or >= n, else a seeded sample."""
    if size <= 0 or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([int(seed), 4]).choice(n, size=int(size), replace=False))


@register(
    "hype",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "ref": Reference(set="downstream", set_key="reference", model_key="model"),
            "model_file": Artifact("results/hyperbolic/{hyperbolic}/model.pt")},
    outputs=("score", *TERMS),
    defaults={"reference_size": 1000, "seed": 0, "block": 2048},
    check=check_hype,
)
def hype(params: dict, emb: dict, ref: dict, model_file: str) -> dict[str, np.ndarray]:
    """HYPE's three terms and their sum for every pair of the chunk."""
    from clipcurate.embed.hyperbolic import hype_scores, load_hyperbolic  # torch: import only when scoring

    model = load_hyperbolic(model_file)
    rows = reference_rows(len(ref["image"]), int(params["reference_size"]), int(params["seed"]))
    out = hype_scores(model, emb["image"], emb["text"], ref["image"][rows], ref["text"][rows], block=int(params["block"]))
    out["score"] = (out["neg_dist"].astype(np.float64) + out["eps_i"] + out["eps_t"]).astype(np.float32)
    return out
