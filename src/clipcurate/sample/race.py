"""The exact continuous-time path shared by SCS with G = 1, HCS and no-cap sampling.

How the fast samplers are exact (and why they are fast)
-------------------------------------------------------
The paper's implementation recomputes a softmax over the whole pool every round (about 100 minutes
at M = N = 128M, G = 100K). Here every sampler simulates the same continuous-time race, which is exact
in distribution and costs O(M + N) vectorised work (plus N/G Python-level rounds for SCS with G > 1,
:mod:`clipcurate.sample.scs`):

* Give example ``i`` an exponential clock of rate ``lambda_i = exp(s_i - max s)`` (its softmax weight
  up to a constant that does not matter). Among competing exponential clocks the first to ring is
  example ``i`` with probability proportional to its rate, so "the next clock to ring" is one draw from
  ``softmax(s)`` over the competing examples, and the ``k`` first distinct examples to ring are a
  successive sample without replacement (the exponential-race form of the Gumbel-top-k trick).
* By memorylessness, a clock that has not rung can be left running while other examples change rate,
  so a pick only needs a new clock for the picked example: one exponential draw per pick.
* **This path** (SCS with ``G = 1``, HCS, no-cap, and SCS with ``alpha = inf`` or ``G >= N``):
  each example is an independent pure-birth process whose ``j``-th inter-arrival time is
  ``Exp(lambda_i * m_j)`` (``m_j = exp(-alpha * (j-1))`` for SCS, 1 for no-cap, 1 for the first
  ``beta`` events and then 0 for HCS). The sampler's output is each example's number of events up to
  the time ``tau`` of the ``N``-th event of the superposition. The processes are independent, so they
  are generated level by level in vectorised numpy (level ``j`` = every example's ``j``-th event),
  chunk by chunk of the pool, keeping only the events below a horizon ``H``. ``tau`` is located inside a
  bracket ``(L, H]`` estimated from a strided subsample of the pool (recursively: the subsample's own
  ``tau`` is found the same way); only the few events inside the bracket are stored, and
  ``np.argpartition`` picks the first ``N``. A bracket that misses ``tau`` is retried wider; that costs
  time but never changes the result (the clocks are a fixed function of the seed,
  :mod:`clipcurate.sample.rng`). Memory: the counts plus O(chunk).

Numerical notes: times are float64 and rates enter as inverse rates ``exp(max s - s_i) >= 1`` (computed
from ``s - max s``, so nothing overflows for realistic logits); an inverse rate that overflows (a score
more than ~709 below the maximum, or ``alpha * count`` above ~709) is an infinite time, i.e. "never
rings", never a NaN. Ties between event times have probability zero in exact arithmetic; in floating
point they are broken deterministically (``np.argpartition``).
"""

from __future__ import annotations

import math

import numpy as np

from clipcurate.sample.rng import Exp
from clipcurate.sample.validate import SamplingError

CHUNK = 1 << 22  # pool rows per vectorised chunk (memory/speed only)
_BASE = 1 << 16  # below this many rows the horizon is found by doubling instead of by subsampling
_SUB_STRIDE = 64  # stride of the subsample used to estimate the N-th event time
_MAX_ATTEMPTS = 200
_LEVEL_BLOCK_MIN = 1024  # below this many active examples, generate levels in blocks
_LEVEL_BLOCK = 32


class Schedule:
    """Inverse-rate multiplier after ``j`` events: ``exp(alpha * j)`` for ``j < cap``, none after ``cap``.

    SCS: (alpha, cap=None); HCS: (0, beta); no-cap: (0, None); SCS with alpha = inf: (0, 1).
    The table is computed once per call and indexed by both paths, so the G = 1 rounds path and the
    exact path multiply by bit-identical factors.
    """

    def __init__(self, alpha: float, cap: int | None):
        self.alpha = float(alpha)
        self.cap = cap
        self._table = np.ones(1)

    def table(self, n: int) -> np.ndarray:
        if self._table.size < n:
            size = max(n, 2 * self._table.size)
            with np.errstate(over="ignore"):  # overflow = inf = that clock never rings
                self._table = np.exp(self.alpha * np.arange(size, dtype=np.float64))
        return self._table


def _pass(s, smax, id_off, id_stride, draw, sched, L, H, counts, chunk):
    """Generate every event time <= H of every example (level by level); count those <= L.

    Returns ``(k_low, rec_t, rec_i)``: the number of events <= L, and the times and local example
    indices of the events in (L, H]. If ``counts`` is given, ``counts[i]`` is set to example i's number
    of events <= L (it must be zero on entry).

    Level ``j + 1`` of example ``i`` is ``t_j + (E(i, j+1) * w_i) * exp(alpha * j)`` with the inverse rate
    ``w_i = exp(max s - s_i)``. Once few examples are still active (the frequently drawn ones), levels
    are generated ``_LEVEL_BLOCK`` at a time (``np.add.accumulate`` adds them in the same order, so the
    times are bit-identical to one level at a time).
    """
    M = s.size
    k_low = 0
    rec_t: list[np.ndarray] = []
    rec_i: list[np.ndarray] = []
    cap = sched.cap

    for start in range(0, M, chunk):
        sc = s[start : start + chunk]
        w = np.subtract(smax, sc, dtype=np.float64)
        with np.errstate(over="ignore"):
            np.exp(w, out=w)  # inverse rates; inf = never fires
        lid = np.arange(start, start + sc.size, dtype=np.int64)
        gid = lid * id_stride + id_off if (id_stride != 1 or id_off != 0) else lid
        t = draw(gid, 1)
        t *= w
        act = np.flatnonzero(t <= H)
        t, w, lid, gid = t[act], w[act], lid[act], gid[act]
        j = 1  # events so far per active example; t is the time of event j (<= H)
        low = t <= L
        n_low = int(np.count_nonzero(low))
        k_low += n_low
        if counts is not None and n_low:
            counts[lid[low]] = 1
        if n_low < t.size:
            rec_t.append(t[~low])
            rec_i.append(lid[~low])
        while t.size and (cap is None or j < cap):
            nb = 1 if t.size > _LEVEL_BLOCK_MIN else (_LEVEL_BLOCK if cap is None else min(_LEVEL_BLOCK, cap - j))
            D = sched.table(j + nb)[j : j + nb]
            if nb == 1:
                incr = draw(gid, j + 1)
                incr *= w
                incr *= D[0]
                t = t + incr
                keep = np.flatnonzero(t <= H)
                if keep.size < t.size:
                    t, w, lid, gid = t[keep], w[keep], lid[keep], gid[keep]
                j += 1
                low = t <= L
                n_low = int(np.count_nonzero(low))
                k_low += n_low
                if counts is not None and n_low:
                    counts[lid[low]] = j  # times increase with j: the last write is the count <= L
                if n_low < t.size:
                    rec_t.append(t[~low])
                    rec_i.append(lid[~low])
                continue
            n = t.size
            T = np.empty((n, nb + 1))
            T[:, 0] = t
            inc = T[:, 1:]
            inc[...] = draw(np.repeat(gid, nb), np.tile(np.arange(j + 1, j + nb + 1), n)).reshape(n, nb)
            inc *= w[:, None]
            inc *= D[None, :]
            np.add.accumulate(T, axis=1, out=T)
            T = T[:, 1:]  # events j+1 .. j+nb, increasing along each row
            within = T <= H
            low = T <= L
            per_row = low.sum(axis=1)
            k_low += int(per_row.sum())
            if counts is not None:
                hit = np.flatnonzero(per_row)
                counts[lid[hit]] = j + per_row[hit]
            high = within & ~low
            if high.any():
                rec_t.append(T[high])
                rec_i.append(np.broadcast_to(lid[:, None], T.shape)[high])
            go_on = np.flatnonzero(within[:, -1])
            t, w, lid, gid = T[go_on, -1], w[go_on], lid[go_on], gid[go_on]
            j += nb
    rt = np.concatenate(rec_t) if rec_t else np.empty(0)
    ri = np.concatenate(rec_i) if rec_i else np.empty(0, dtype=np.int64)
    return k_low, rt, ri


def _reachable(s, smax, sched) -> float:
    """Upper bound on the number of events that can happen at finite times (inf if unbounded)."""
    if sched.cap is None:
        return math.inf
    finite = 0
    for start in range(0, s.size, 1 << 22):
        w = np.subtract(smax, s[start : start + (1 << 22)], dtype=np.float64)
        with np.errstate(over="ignore"):
            np.exp(w, out=w)
        finite += int(np.count_nonzero(np.isfinite(w)))
    return float(finite) * sched.cap


def _event_times(s, smax, id_off, id_stride, draw, sched, n_lo, n_hi, counts, chunk):
    """Exact times of the ``n_lo``-th and ``n_hi``-th events of the superposed processes of ``s``.

    With ``counts`` (zeros, length ``len(s)``, requires ``n_lo == n_hi == N``) also fills in each
    example's number of events among the first N, i.e. the sampler's output.
    """
    M = s.size
    if M > _BASE:
        # Estimate the bracket from a strided subsample (same clocks: same example ids and draws).
        sub = s[::_SUB_STRIDE]
        frac = sub.size / M
        eps = 0.02 + 4.0 / math.sqrt(max(1.0, n_lo * frac))
        sub_lo = int(math.floor(n_lo * frac * (1 - eps)))
        sub_hi = int(math.ceil(n_hi * frac * (1 + eps)))
        sub_hi = int(min(sub_hi, _reachable(sub, smax, sched)))
        if sub_lo >= 1 and sub_hi > sub_lo:
            L, H = _event_times(sub, smax, id_off, id_stride * _SUB_STRIDE, draw, sched, sub_lo, sub_hi, None, chunk)
        else:
            L, H = 0.0, None
    else:
        L, H = 0.0, None
    if H is None or not math.isfinite(H) or H <= L:
        # first guess: the time at which n_hi events are expected without any penalty
        tot = 0.0
        for start in range(0, M, 1 << 22):
            tot += float(np.exp(s[start : start + (1 << 22)].astype(np.float64) - smax).sum())
        H = max(n_hi / tot, L * 2.0, 1e-300)
    grow = 4.0
    for attempt in range(_MAX_ATTEMPTS):
        if counts is not None and attempt:
            counts.fill(0)
        k_low, rt, ri = _pass(s, smax, id_off, id_stride, draw, sched, L, H, counts, chunk)
        k_high = k_low + rt.size
        if k_low >= n_lo:  # the bracket starts too late: move it down
            H = L if k_low >= n_hi else H
            L = L * 0.25
            continue
        if k_high < n_hi:  # the bracket ends too early: move it up, faster and faster (alpha > 0 can
            if k_high < n_lo:  # need times exponential in N / M)
                L = H
            H = H * grow
            grow = min(grow * grow, 1e4)
            if not math.isfinite(H):
                raise SamplingError(
                    f"n_target: only {k_high} picks can be made at finite times (scores spread or "
                    f"alpha * count exceed float64's exp range); got n_target = {n_hi}"
                )
            continue
        break
    else:  # pragma: no cover - would need a pathological score vector
        raise RuntimeError("sampling: could not bracket the N-th event time")
    r_lo, r_hi = n_lo - k_low - 1, n_hi - k_low - 1
    if counts is None:
        part = np.partition(rt, sorted({r_lo, r_hi}))
        return float(part[r_lo]), float(part[r_hi])
    sel = np.argpartition(rt, r_hi)[: r_hi + 1]  # exactly N - k_low events: ties broken by argpartition
    tau = float(rt[sel].max())
    if not math.isfinite(tau):  # pragma: no cover - excluded by the <= H filter
        raise SamplingError(f"n_target: only {k_low + np.isfinite(rt).sum()} picks possible, got {n_hi}")
    np.add.at(counts, ri[sel], 1)
    return tau, tau


def exact_counts(s, n_target, seed, sched, chunk=CHUNK) -> np.ndarray:
    """``int32`` counts: each example's number of events among the first ``n_target`` of the race.

    ``s`` are validated scores, ``sched`` the :class:`Schedule` of the sampler (see the module
    docstring); ``chunk`` is the number of pool rows per vectorised step (the result does not depend
    on it).
    """
    s = np.asarray(s)
    smax = float(s.max())
    reach = _reachable(s, smax, sched)
    if n_target > reach:
        raise SamplingError(
            f"n_target: at most {int(reach)} picks are possible with these scores and caps, got {n_target}"
        )
    counts = np.zeros(s.size, dtype=np.int32)
    _event_times(s, smax, 0, 1, Exp(seed), sched, n_target, n_target, counts, int(chunk))
    return counts
