"""E-FLYT score: a trained FLYT GLU head over a chunk's frozen [image, text] CLIP embeddings.

The head is trained by the ``train_eflyt`` rule (:func:`clipcurate.flyt.run.train_run`); the
score's ``model`` must be the head's embedding model, so that the stored embeddings are the
features it was trained on. The rule passes the head file as ``params["head"]``.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register


@register("eflyt", level="chunk", inputs=("embeddings", "flyt"), outputs=("score",))
def eflyt(embeddings: dict, params: dict) -> dict[str, np.ndarray]:
    """Apply the trained head to every row of the chunk."""
    from clipcurate.flyt.run import head_scores, load_head  # torch: import only when scoring

    if not params.get("head"):
        raise ValueError("eflyt: params['head'] (the trained head.pt) is required")
    return {"score": head_scores(load_head(params["head"]), embeddings["image"], embeddings["text"])}
