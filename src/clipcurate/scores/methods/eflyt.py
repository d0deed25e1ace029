"""E-FLYT score: a trained FLYT GLU head over a chunk's frozen [image, text] CLIP embeddings.

The head is the artifact ``results/flyt/{flyt}/head.pt`` made by the ``train_eflyt`` trainer
(:mod:`clipcurate.train.trainers.flyt`, :func:`clipcurate.train.flyt.run.train_run`); the score's ``model`` must be the head's embedding model,
so that the stored embeddings are the features it was trained on (checked at planning time).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings


def check_eflyt(entry, config, key):
    """The E-FLYT run named by ``flyt`` reads the embeddings of the score's ``model`` (that it exists
    and is an E-FLYT run is checked by the planner, from the trainer that writes the head)."""
    run = config["flyt"]["runs"][entry["flyt"]]
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
    from clipcurate.train.flyt.run import head_scores, load_head  # torch: import only when scoring

    return {"score": head_scores(load_head(head), emb["image"], emb["text"])}
