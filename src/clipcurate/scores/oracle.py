"""Ground-truth oracle for the tiny world: the upper bound rows of the tables.

This is the only method that reads ``truth.parquet``. It is registered as an oracle so that tables
can show what a perfect filter reaches; a real pool has no such file.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from clipcurate.scores import register


@register("truth_clean", level="pool", inputs=("truth",), outputs=("score", "keep"), oracle=True)
def truth_clean(index_uids, truth, params: dict) -> dict[str, np.ndarray]:
    """keep = the sample's ground-truth kind is 'clean'; score = keep as 0/1."""
    pos = pc.index_in(index_uids, value_set=truth.column("uid"))
    if pos.null_count:
        raise ValueError(f"{pos.null_count} pool uids have no ground-truth row")
    clean = truth.column("clean").to_numpy(zero_copy_only=False)[pos.to_numpy()]
    return {"score": clean.astype(np.float32), "keep": clean.astype(bool)}
