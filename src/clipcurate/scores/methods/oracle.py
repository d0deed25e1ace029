"""Ground-truth oracle for the tiny world: the upper bound rows of the tables.

It declares the :class:`~clipcurate.scores.inputs.Truth` input, which makes it an oracle: tables
can show what a perfect filter reaches, and it is never planned on a real pool (which has no truth).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Truth


@register("truth_clean", level="pool", inputs={"truth": Truth()}, outputs=("score", "keep"))
def truth_clean(params: dict, truth) -> dict[str, np.ndarray]:
    """keep = the sample's ground-truth kind is 'clean'; score = keep as 0/1."""
    clean = truth.column("clean").to_numpy(zero_copy_only=False).astype(bool)
    return {"score": clean.astype(np.float32), "keep": clean}
