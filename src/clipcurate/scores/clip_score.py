"""CLIP score: cosine similarity of a pair's image and text embeddings (DataComp's baseline).

With the DFN's embeddings this is DFN filtering; with embeddings of horizontally flipped images
(``clip_score_hflip`` below) it is the Devil paper's
flipped-CLIP score. The method only needs the chunk's embedding file.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings


@register("clip_score", level="chunk", inputs={"emb": Embeddings(model_key="model", variant="plain")}, outputs=("score",))
def clip_score(params: dict, emb: dict) -> dict[str, np.ndarray]:
    """Row-wise dot product of L2-normalised image and text embeddings."""
    return {"score": np.einsum("ij,ij->i", emb["image"], emb["text"], dtype=np.float32)}


@register("clip_score_hflip", level="chunk", inputs={"emb": Embeddings(model_key="model", variant="hflip")}, outputs=("score",))
def clip_score_hflip(params: dict, emb: dict) -> dict[str, np.ndarray]:
    """CLIP score of the horizontally flipped image with the caption (the Devil paper's flipped
    CLIP score: rendered text reads backwards, so captions that only spell the image's text lose)."""
    return {"score": np.einsum("ij,ij->i", emb["image"], emb["text"], dtype=np.float32)}
