"""The threshold baseline: keep the top ``k`` scores, or the top fraction ``f`` of the pool, once each.

Both are :mod:`clipcurate.sample.topk` (one rounding rule, ties to lower pool indices, documented
there against DataComp's ``get_threshold``), returned as 0/1 counts like every other sampler.
"""

from __future__ import annotations

import numpy as np

from clipcurate.sample import topk
from clipcurate.sample.validate import as_fraction, as_int, as_scores


def threshold_top_k(s, k) -> np.ndarray:
    """0/1 ``int32`` counts keeping the ``k`` highest scores; ties at the cut go to lower indices."""
    s = as_scores(s)
    k = as_int("k", k, 0, s.size)
    return topk.top_mask(s, k).astype(np.int32)


def threshold_top_fraction(s, fraction) -> np.ndarray:
    """0/1 ``int32`` counts keeping the top ``n = topk.top_count(fraction, M)`` scores.

    A fraction so small that n = 0 gives an empty selection.
    """
    s = as_scores(s)
    return threshold_top_k(s, topk.top_count(as_fraction(fraction), s.size))
