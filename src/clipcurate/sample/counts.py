"""Count vectors: their check, and the repetition statistics of a subset (FLYT Figure 2's numbers).

A count vector holds one non-negative integer per pool row: how many times that example enters the
training set. Samplers produce them; a score method or a mix may output one as its ``count`` column
(:mod:`clipcurate.scores`), which the ``counts`` sampler takes as is (:mod:`clipcurate.sample.subset`).
"""

from __future__ import annotations

import numpy as np

from clipcurate.core import fileio, scorefiles
from clipcurate.sample.validate import SamplingError


def check_counts(counts, where: str = "counts") -> np.ndarray:
    """A count vector, checked by the file contract's own check (:func:`clipcurate.core.scorefiles.check_counts`:
    1-D, integer, every value in ``[0, scorefiles.MAX_COUNT]``), as a :class:`SamplingError` naming ``where``
    (a config key and column), the first offending row and its value. Returns it as int64."""
    try:
        return scorefiles.check_counts(counts, where).astype(np.int64)
    except fileio.ContractError as e:
        raise SamplingError(str(e)) from None


def repetition_stats(counts) -> dict:
    """How many examples appear 1, 2, 3, ... times in a count vector (the numbers behind FLYT Figure 2).

    Returns ``n_unique`` (examples with count > 0), ``n_total`` (the dataset size, sum of counts),
    ``max_count``, ``mean_count`` (mean repetitions of a selected example) and ``histogram``
    ``{repetitions: n_examples}`` for the repetition numbers that occur, in increasing order (sparse:
    a no-cap sample can repeat one example thousands of times and leave most numbers in between empty).
    """
    c = np.asarray(counts)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise SamplingError(f"counts: expected a 1-D integer array, got shape {c.shape} dtype {c.dtype}")
    if c.size and int(c.min()) < 0:
        raise SamplingError(f"counts: expected non-negative counts, found {int(c.min())}")
    hist = np.bincount(c) if c.size else np.zeros(1, dtype=np.int64)
    n_unique = int(hist[1:].sum())
    n_total = int((np.arange(hist.size, dtype=np.int64) * hist).sum())
    reps = np.flatnonzero(hist[1:]) + 1
    return {
        "n_unique": n_unique,
        "n_total": n_total,
        "max_count": int(hist.size - 1) if n_unique else 0,
        "mean_count": (n_total / n_unique) if n_unique else 0.0,
        "histogram": {int(r): int(hist[r]) for r in reps},
    }
