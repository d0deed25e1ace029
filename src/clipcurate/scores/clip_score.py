"""CLIP score: cosine similarity of a pair's image and text embeddings (DataComp's baseline).

With the DFN's embeddings this is DFN filtering; with embeddings of horizontally flipped images it
is the Devil paper's flipped-CLIP score. The method only needs the chunk's embedding file.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register


@register("clip_score", level="chunk", inputs=("embeddings",), outputs=("score",))
def clip_score(embeddings: dict, params: dict) -> dict[str, np.ndarray]:
    """Row-wise dot product of L2-normalised image and text embeddings."""
    img, txt = embeddings["image"], embeddings["text"]
    return {"score": np.einsum("ij,ij->i", img, txt, dtype=np.float32)}
