"""Intersection of boolean filters: keep a sample when every input's ``keep`` column keeps it.

DataComp's image-based ∩ CLIP score baseline is the image-based filter applied to the samples
that pass the CLIP-score threshold (computed over the whole pool); since the image-based decision
of a sample depends only on the pool's centroids, that equals the intersection of the two keep
masks. ``inputs`` names the filters as ``score:keep``.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Scores


def _check(entry, config, key):
    refs = entry.get("inputs")
    refs = [refs] if isinstance(refs, str) else list(refs or [])
    bad = [r for r in refs if not str(r).endswith(":keep")]
    if len(refs) < 2 or bad:
        raise ValueError(f"config: {key}.inputs: expected two or more boolean filters written 'name:keep', got {refs}")


@register("intersect_keeps", level="pool", inputs={"filters": Scores(key="inputs")}, outputs=("keep",), check=_check)
def intersect_keeps(params: dict, filters: dict) -> dict[str, np.ndarray]:
    """AND of the inputs' keep columns."""
    keep = None
    for name, v in filters.items():
        v = np.asarray(v)
        if v.dtype != np.bool_:
            raise ValueError(f"intersect_keeps: input {name!r} is not a boolean keep column (dtype {v.dtype})")
        keep = v.copy() if keep is None else keep & v
    return {"keep": keep}
