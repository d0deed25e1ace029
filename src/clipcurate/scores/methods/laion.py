"""LAION-2B's filter as DataComp reproduces it: CLIP B/32 score >= 0.28 and an English caption.

DataComp detects English with gcld3 here (not fastText); gcld3 publishes no wheel for current Python
versions, so this method uses fastText's lid.176 (the same model as the other baselines), a
documented difference. ``input`` is the CLIP score (OpenAI B/32 at real scale). The absolute 0.28
is a property of OpenAI's B/32 cosine scale: the tiny world's CLIP analogue has another scale, so its
config gives ``fraction`` instead (DataComp's fraction rule, :mod:`clipcurate.scores.methods.datacomp_clip`).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores.helpers import langid
from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata, Scores


def _check(entry, config, key):
    p = entry.get("params") or {}
    threshold = p.get("threshold", 0.28)
    if (threshold is None) == (p.get("fraction") is None):
        raise ValueError(f"config: {key}.params: give exactly one of threshold (default 0.28) and fraction "
                         "(set threshold: null to use a fraction)")
    if not isinstance(entry.get("input"), str):
        raise ValueError(f"config: {key}.input: expected one score name (the B/32 clip_score)")


@register(
    "laion",
    level="pool",
    inputs={"clip": Scores(key="input"), "meta": Metadata(columns=("text",))},
    outputs=("score", "keep"),
    defaults={"threshold": 0.28, "fraction": None, "lid_model": None, "threads": 1},
    check=_check,
)
def laion(params: dict, clip: dict, meta) -> dict[str, np.ndarray]:
    """CLIP score at or above the threshold, and English."""
    (s,) = clip.values()
    above = F.threshold_keep(s, params["threshold"], params["fraction"])
    english = F.english_where(meta.column("text"), above, langid.load_model(params["lid_model"]), int(params["threads"]))
    return {"score": s, "keep": above & english}
