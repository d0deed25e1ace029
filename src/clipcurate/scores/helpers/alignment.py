"""Distribution alignment of "The Devil is in the Details" (Yu et al. 2023, §3.3): the pure parts of
cluster-importance-based data selection (CIDS) and quality-based duplication.

The score methods ``cids`` and ``quality_dup`` (:mod:`clipcurate.scores.methods.cids`,
:mod:`clipcurate.scores.methods.quality_dup`) put these on the staged contract; here they are plain numpy
functions, so that tests compare them with direct counts and hand-computed cases.

No code of the paper is public; the summary gives the idea (cluster the pool, weight each cluster by
how much downstream-train data falls into it relative to the pool, resample; within clusters give the
best samples by flipped-CLIP score more copies, (w1, w2) = (1, 2) and (1, 3)). The readings chosen
where it leaves things open are written next to each function.

Every stage of the Devil pipeline filters the previous stage's survivors, so both methods read a
``base`` column: the previous stage's ``keep`` (bool) or ``count`` (repeat counts). :func:`base_counts`
turns either into counts; a row with count 0 is not in the base.
"""

from __future__ import annotations

import math

import numpy as np


class AlignmentError(ValueError):
    """A bad input of an alignment method (the message names it)."""


def base_counts(values, where: str = "base") -> np.ndarray:
    """The previous stage's repeat counts: a ``keep`` column as 0/1, a ``count`` column as is (uint32)."""
    v = np.asarray(values)
    if v.ndim != 1:
        raise AlignmentError(f"{where}: expected a 1-D keep or count column, got shape {v.shape}")
    if v.dtype == np.bool_:
        return v.astype(np.uint32)
    if not np.issubdtype(v.dtype, np.integer):
        raise AlignmentError(f"{where}: expected a keep (bool) or count (integer) column, got {v.dtype}; "
                             "name the column, e.g. 'previous_stage:keep'")
    if len(v) and v.min() < 0:
        raise AlignmentError(f"{where}: negative repeat count {int(v.min())}")
    return v.astype(np.uint32)


def single_base(base, where: str) -> np.ndarray:
    """The one column of a ``Scores`` input named by ``base:`` (``{ref: values}``) as counts."""
    if len(base) != 1:
        raise AlignmentError(f"{where}: base names {len(base)} columns ({sorted(base)}); name exactly one keep or count column")
    (ref, values), = base.items()
    return base_counts(values, f"{where} ({ref})")


def check_base(entry, config, key: str, field: str = "base") -> None:
    """At planning time: ``<key>.<field>`` names one column, and it is a ``keep`` or ``count`` column
    the named score's method declares (a float score there would fail only when the job runs)."""
    from clipcurate.scores import UnknownMethodError, get

    ref = entry.get(field)
    refs = [ref] if isinstance(ref, str) else list(ref or [])
    if len(refs) != 1:
        raise ValueError(f"config: {key}.{field}: name exactly one keep or count column (e.g. 'previous:keep'), got {ref!r}")
    name, _, column = str(refs[0]).partition(":")
    column = column or "score"
    if column not in ("keep", "count"):
        raise ValueError(f"config: {key}.{field}: {refs[0]!r} names the column {column!r}; the previous stage is a "
                         f"'keep' or 'count' column (write '{name}:keep' or '{name}:count')")
    other = (config.get("scores") or {}).get(name) or {}
    try:
        outputs = get(other.get("method")).outputs
    except (UnknownMethodError, TypeError):
        return  # an unknown score or method is reported by the planner itself
    if column not in outputs:
        raise ValueError(f"config: {key}.{field}: score {name!r} (method {other.get('method')!r}) has no {column!r} "
                         f"column; its outputs are {list(outputs)}")


def load_centroids(path) -> np.ndarray:
    """Centroids from a staged method's fit artifact (``.npz`` with ``centroids``, e.g. CIDS's
    ``results/scores/cids/fit.npz``), a ``.npy`` or DataComp's released ``.pt``."""
    from pathlib import Path

    from clipcurate.scores.helpers import datacomp_filters as F
    from clipcurate.scores.stages import read_arrays

    if Path(path).suffix == ".npz":
        arrays = read_arrays(path)
        if "centroids" not in arrays:
            raise AlignmentError(f"{path}: no array 'centroids'; it has {sorted(arrays)}")
        return np.ascontiguousarray(arrays["centroids"], dtype=np.float32)
    return F.load_centroids(path)


# --------------------------------------------------------------------------------------------
# CIDS


def cluster_importance(pool_counts, ref_counts, smoothing: float = 0.0) -> np.ndarray:
    """Each cluster's importance: its share of the downstream-train images over its share of the pool.

    ``importance_c = (r_c + a) / sum_j (r_j + a)  /  (p_c / sum_j p_j)`` with ``r`` the downstream
    images per cluster, ``p`` the (base) pool samples per cluster and ``a`` the ``smoothing``
    pseudo-count (0: the paper's reading; a > 0 keeps some of every cluster). The downstream shares
    are taken over the clusters that hold pool samples (a downstream image whose cluster has no pool
    sample cannot be matched by resampling, so its share goes to the others). A cluster without pool
    samples has importance 0 (nothing to draw).
    """
    p = np.asarray(pool_counts, dtype=np.float64)
    r = np.asarray(ref_counts, dtype=np.float64) + float(smoothing)
    if p.shape != r.shape or p.ndim != 1:
        raise AlignmentError(f"pool and downstream counts per cluster differ in shape: {p.shape} vs {r.shape}")
    if (p < 0).any() or (r < 0).any():
        raise AlignmentError("counts per cluster must be non-negative")
    has = p > 0
    if not has.any():
        return np.zeros_like(p)
    rs = np.where(has, r, 0.0)
    if rs.sum() == 0:
        raise AlignmentError("no downstream image falls into a cluster that holds pool samples; CIDS has no target "
                             "(raise smoothing, or check that the downstream set and the pool use the same model)")
    ref_share = rs / rs.sum()
    pool_share = p / p.sum()
    return np.where(has, ref_share / np.where(has, pool_share, 1.0), 0.0)


def draw_rates(pool_counts, importance, n_target: int) -> np.ndarray:
    """Expected draws per pool sample of each cluster: ``n_target`` draws spread so that the drawn
    set's cluster shares are the downstream shares.

    Resampling ``n_target`` times with replacement, each sample with probability proportional to its
    cluster's importance, draws a sample of cluster ``c`` ``lambda_c = n_target * w_c / sum_j p_j w_j``
    times on average (``w`` the importance, ``p`` the pool counts); a cluster's expected draws are then
    ``n_target * (its downstream share)``.
    """
    p = np.asarray(pool_counts, dtype=np.float64)
    w = np.asarray(importance, dtype=np.float64)
    mass = float((p * w).sum())
    if mass <= 0:
        return np.zeros_like(p)
    return float(n_target) * w / mass


def draw_counts(rates_per_row, replace: bool, rng: np.random.Generator) -> np.ndarray:
    """Per-row repeat counts from the rows' expected draws, independently per row.

    With ``replace`` each row's count is Poisson(lambda): the Poissonised multinomial. Drawing
    ``n_target`` times with replacement is a multinomial; its Poissonised form has independent
    per-row counts, so every chunk draws its own rows with its own seed and no job needs another's
    draws; the total is Poisson(n_target) (within about ``sqrt(n_target)`` of it) and, given the
    total, the counts are exactly the multinomial's. Without ``replace`` a row is kept (count 1) with
    probability ``min(1, lambda)``: a cluster whose downstream share asks for more than all of its
    samples keeps them all (the subset then falls short of ``n_target``).
    """
    lam = np.asarray(rates_per_row, dtype=np.float64)
    if replace:
        return rng.poisson(lam).astype(np.uint32)
    return (rng.random(len(lam)) < np.minimum(lam, 1.0)).astype(np.uint32)


# --------------------------------------------------------------------------------------------
# quality-based duplication


def top_count(n: int, top_fraction: float) -> int:
    """Members of an ``n``-member cluster in its top part: ``round(top_fraction * n)``, halves up
    (so a singleton is in the top part when ``top_fraction >= 0.5``, never below)."""
    return int(math.floor(float(top_fraction) * n + 0.5))


def quality_counts(quality, base, rows, w1: int, w2: int, top_fraction: float) -> np.ndarray:
    """Repeat counts of one cluster's members.

    The members with ``base > 0`` are ranked by ``quality`` (the flipped-CLIP score), highest first;
    ties are broken by pool row (the earlier sample first), so the result does not depend on how the
    pool is chunked. The first :func:`top_count` of them get ``w2`` copies per base copy, the rest
    ``w1`` per base copy; members with ``base == 0`` (dropped by the previous stage) get 0.
    """
    q = np.asarray(quality, dtype=np.float64)
    b = base_counts(base)
    r = np.asarray(rows, dtype=np.int64)
    if not (q.shape == b.shape == r.shape):
        raise AlignmentError(f"quality, base and rows differ in shape: {q.shape}, {b.shape}, {r.shape}")
    out = np.zeros(len(q), dtype=np.uint32)
    live = np.flatnonzero(b > 0)
    if not live.size:
        return out
    order = live[np.lexsort((r[live], -q[live]))]
    k = top_count(len(live), top_fraction)
    out[order[:k]] = b[order[:k]] * np.uint32(w2)
    out[order[k:]] = b[order[k:]] * np.uint32(w1)
    return out
