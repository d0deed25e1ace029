"""DataComp's CLIP-score filter: keep ``score >= threshold``, the threshold given or taken from a
fraction the way DataComp's ``get_threshold`` does (the score at index floor(N * f) of the pool's
scores sorted in descending order; so floor(N * f) + 1 rows plus ties are kept).

The input is another score (``input``: ``clip_score`` by the B/32 or L/14 model, or any score); the
output keeps the input's value as ``score`` and adds the boolean ``keep``, so recipes can sample by
``keep`` and intersections (:mod:`clipcurate.scores.methods.keeps`) can combine it.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores import register
from clipcurate.scores.inputs import Scores


def _check(entry, config, key):
    p = entry.get("params") or {}
    if (p.get("threshold") is None) == (p.get("fraction") is None):
        raise ValueError(f"config: {key}.params: give exactly one of threshold and fraction")
    if p.get("fraction") is not None and not (0 < float(p["fraction"]) < 1):
        raise ValueError(f"config: {key}.params.fraction: expected a number in (0, 1), got {p['fraction']!r}")
    if not isinstance(entry.get("input"), str):
        raise ValueError(f"config: {key}.input: expected one score name (e.g. clip_score)")


@register(
    "clip_threshold",
    level="pool",
    inputs={"scores": Scores(key="input")},
    outputs=("score", "keep"),
    defaults={"threshold": None, "fraction": None},
    check=_check,
)
def clip_threshold(params: dict, scores: dict) -> dict[str, np.ndarray]:
    """The input score and its DataComp threshold keep mask."""
    (s,) = scores.values()
    return {"score": s, "keep": F.threshold_keep(s, params["threshold"], params["fraction"])}
