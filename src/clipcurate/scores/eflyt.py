"""E-FLYT score: a trained FLYT GLU head over a chunk's frozen [image, text] CLIP embeddings.

The head is the artifact ``results/flyt/{flyt}/head.pt`` made by the ``train_eflyt`` rule
(:func:`clipcurate.flyt.run.train_run`); the score's ``model`` must be the head's embedding model,
so that the stored embeddings are the features it was trained on (checked at planning time).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings


def check_eflyt(entry, config, key):
    """The run named by ``flyt`` is an E-FLYT run over the embeddings of the score's ``model``."""
    run = config["flyt"]["runs"][entry["flyt"]]  # existence is checked by the planner
    if run["scorer"] != "embedding":
        raise ValueError(f"config: {key}.flyt: flyt run {entry['flyt']!r} has scorer {run['scorer']!r}, expected 'embedding'")
    if entry.get("model") != run.get("embed_model"):
        raise ValueError(
            f"config: {key}.model ({entry.get('model')!r}) must be the E-FLYT head's embedding model "
            f"flyt.runs.{entry['flyt']}.embed_model ({run.get('embed_model')!r})"
        )


@register(
    "eflyt",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "head": Artifact("results/flyt/{flyt}/head.pt")},
    outputs=("score",),
    check=check_eflyt,
)
def eflyt(params: dict, emb: dict, head: str) -> dict[str, np.ndarray]:
    """Apply the trained head to every row of the chunk."""
    from clipcurate.flyt.run import head_scores, load_head  # torch: import only when scoring

    return {"score": head_scores(load_head(head), emb["image"], emb["text"])}
