"""CLIP score: cosine similarity of a pair's image and text embeddings (DataComp's baseline).

With the DFN's embeddings this is DFN filtering; with an image variant's embeddings (a score entry's
``variant: hflip``: horizontally flipped images with the plain captions) it is the Devil paper's
flipped CLIP score: rendered text reads backwards, so captions that only spell the image's text
lose. The method only needs the chunk's embedding file.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings


@register("clip_score", level="chunk", inputs={"emb": Embeddings(model_key="model", variant="plain")}, outputs=("score",))
def clip_score(params: dict, emb: dict) -> dict[str, np.ndarray]:
    """Row-wise dot product of L2-normalised image and text embeddings."""
    return {"score": np.einsum("ij,ij->i", emb["image"], emb["text"], dtype=np.float32)}
