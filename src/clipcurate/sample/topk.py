"""The one top-k of the workflow: how many rows "the top fraction f" keeps, and which.

Used by the ``threshold`` sampler (:mod:`clipcurate.sample.threshold`) and by the set mixes
(:mod:`clipcurate.mix.aggregate`: intersection, union, two-stage), so that a fraction keeps the same rows
wherever it is written; DataComp's CLIP-score baseline takes its ``n`` from it too (below). This module imports only numpy and the standard library (the mixes' code
version reaches it).

The rule
--------
* **How many**: ``n = floor(f * M)``, where a binary product that falls at most two ulps short of an
  integer counts as that integer. Two ulps bound the rounding error of the product itself (``f`` is
  stored to within half an ulp, and the multiplication rounds once more), so the rule gives the floor
  of the exact product of the decimal as written whenever its significant digits plus the digits of
  ``M`` are at most 15 (``0.3`` or ``0.299999`` of 128M rows), and of ``k / d`` for small ``d``;
  beyond that only an exact product that itself lies within two ulps below an integer is rounded up.
  ``0.29`` of 100 rows is 29 rows (the binary product ``0.29 * 100`` is 28.999999999999996), ``1/3``
  of 6 rows is 2, and ``0.299999999997`` of 10**6 rows is 299,999 (the product 299,999.999997 is about
  51,500 ulps short of 300,000: a real fraction, floored). Tests compare it with exact decimal and
  rational arithmetic.
* **Which**: the ``n`` highest values; among rows tied at the cut-off value, the lowest row indices
  (earliest in the pool index's canonical order) first. "Top f" is a count, not a threshold: ties never
  make the subset larger or smaller than ``n``, and breaking them by index makes it deterministic and
  independent of the sort algorithm.

DataComp's ``get_threshold`` (baselines/apply_filter.py, CLIP-score filtering with ``--fraction``)
instead computes ``n = int(len(scores) * fraction)`` on the binary product, takes the threshold
``-np.sort(-scores)[n]`` (the value at 0-based index ``n`` of the scores sorted descending) and keeps
every row with ``score >= threshold``: ``n + 1`` rows when the scores are distinct, and every row tied
with the threshold besides. We keep exactly ``n`` rows instead, so that a subset's size follows from
the config and the pool size alone (planning can know it; the tables report it) and so that a
fraction keeps the same rows in a sampler and in a mix. The difference is one row plus the ties at the
cut (one row in 10**8 at DataComp's medium scale); DataComp's truncation of the binary product loses a
row at fractions like 0.29 of 100, which its ``+ 1`` happens to hide. The DataComp baselines that
reproduce ``get_threshold`` itself (``clip_threshold``, LAION's ``fraction``:
:func:`clipcurate.scores.helpers.datacomp_filters.fraction_threshold`) keep its ``>= threshold`` rule, with ``n``
from :func:`top_count`.
"""

from __future__ import annotations

import math

import numpy as np

#: rows scanned per step when looking for the tied rows at the cut-off (memory only).
CHUNK_ROWS = 1 << 16


def top_count(f: float, m: int) -> int:
    """``n = floor(f * m)``, the number of rows a top fraction ``f`` of ``m`` rows keeps (module docstring).

    ``f`` must be a finite real number (callers check it is in (0, 1]); ``m`` a non-negative integer.
    """
    f = float(f)
    m = int(m)
    if not math.isfinite(f) or m < 0:
        raise ValueError(f"top_count: expected a finite fraction and a non-negative row count, got {f!r} and {m}")
    prod = f * m
    n = math.floor(prod)
    # the product's own rounding error is below two ulps: a product that short of the next integer is it
    if (n + 1) - prod <= 2 * math.ulp(prod):
        n += 1
    return n


def top_mask(x: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of the ``n`` highest values of ``x``; ties at the cut-off to the lowest indices.

    ``x`` is a 1-D real column (finite: callers check it; a NaN would compare false everywhere).
    ``n <= 0`` keeps nothing and ``n >= len(x)`` everything. Memory: one copy of ``x`` for
    ``np.partition`` plus the mask; the tied rows are found by a chunked scan, so a column with many
    ties (a binary score) never needs an index array the size of the pool.
    """
    x = np.asarray(x)
    m = len(x)
    n = int(n)
    mask = np.zeros(m, dtype=bool)
    if n <= 0:
        return mask
    if n >= m:
        mask[:] = True
        return mask
    t = np.partition(x, m - n)[m - n]  # the cut-off: the n-th largest value
    np.greater(x, t, out=mask)
    need = n - int(np.count_nonzero(mask))  # >= 1: t itself is among the n highest
    for start in range(0, m, CHUNK_ROWS):
        take = np.flatnonzero(x[start : start + CHUNK_ROWS] == t)[:need]
        mask[start + take] = True
        need -= len(take)
        if need == 0:
            break
    return mask


def top_fraction_mask(x: np.ndarray, f: float) -> np.ndarray:
    """:func:`top_mask` of the top fraction ``f``: ``top_count(f, len(x))`` rows."""
    return top_mask(x, top_count(f, len(x)))
