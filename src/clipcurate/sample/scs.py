"""Soft Cap Sampling (FLYT, Shechter & Carmon, "Filter Like You Test", Algorithm 2, Sections 3.6 and 4.3).

``N`` examples are drawn in rounds of ``G`` draws without replacement from ``softmax(s)``; every pick
lowers the picked logit by ``alpha``, a soft cap on repetitions. ``G = 1``, ``alpha = inf`` and
``G >= N`` use the exact continuous-time path (:mod:`clipcurate.sample.race`); ``1 < G < N`` uses the
event-driven rounds path below.

The rounds path (G > 1)
-----------------------
Within a round the rates are frozen and an example rings at most once; the round picks the ``k``
smallest pending clock times and ends at the largest of them, ``tau_r``; each picked example gets a
fresh clock ``tau_r + Exp(new rate)`` and the others keep theirs (memorylessness). This is an event
loop over ``N`` picks with a calendar queue (:func:`scs_rounds`): windows of pending times are pulled
out of the pool array by a scan and spread over time buckets, buckets join a small pool in time
order, and a round is one ``np.argpartition`` of that pool. For ``G = 1`` it is the one-at-a-time
process driven by the same clocks as the exact path and returns identical counts (a test checks
this), so the two paths check each other.
"""

from __future__ import annotations

import math

import numpy as np

from clipcurate.core.progress import progress
from clipcurate.sample.race import CHUNK, Schedule, exact_counts
from clipcurate.sample.rng import Exp
from clipcurate.sample.validate import SamplingError, as_alpha, as_int, as_n_target, as_scores, as_seed

#: the paper samples N = 128M in 1280 rounds of G = 100K; :func:`default_group_size` keeps that ratio.
PAPER_ROUNDS = 1280


def default_group_size(n_target: int) -> int:
    """SCS group size used when a recipe gives none: ``ceil(N / 1280)``.

    The paper samples its medium-scale set (N = 128M) in groups of G = 100K, i.e. 1280 rounds. A fixed
    G = 100K would turn SCS into plain sampling without replacement on small pools (G >= N means one
    round), so the default keeps the paper's number of rounds instead; it is exactly 100K at N = 128M.
    """
    return max(1, -(-int(n_target) // PAPER_ROUNDS))


def scs(s, n_target, alpha, group_size, seed) -> np.ndarray:
    """Soft Cap Sampling (FLYT Algorithm 2).

    ``N`` examples are drawn in rounds of ``k = min(G, N - drawn)``; a round draws ``k`` distinct
    examples by successive sampling without replacement from ``softmax(s)``, then subtracts ``alpha``
    from the logit of every example it drew. ``alpha`` is the soft cap: an example's probability drops by
    ``exp(-alpha)`` per repetition (``alpha = 0``: sampling with replacement; ``alpha = inf``: without
    replacement). An example is drawn at most ``ceil(N / G)`` times.

    Exact in distribution, and fast (see the module docstring): ``G = 1`` and ``alpha = inf`` and
    ``G >= N`` use the vectorised continuous-time path; otherwise the event-driven rounds path.
    ``group_size=None`` means :func:`default_group_size`.

    Raises :class:`SamplingError` for alpha < 0, G < 1, N <= 0, bad scores, a round larger than the
    pool (``min(G, N) > M``), and ``alpha = inf`` with ``N > M`` (without replacement cannot reach N).
    """
    s = as_scores(s)
    N = as_n_target(n_target)
    a = as_alpha(alpha)
    G = default_group_size(N) if group_size is None else as_int("group_size", group_size, 1)
    seed = as_seed(seed)
    M = s.size
    if min(G, N) > M:
        raise SamplingError(
            f"group_size: a round draws min(group_size, n_target) = {min(G, N)} distinct examples, "
            f"more than the {M} scores given"
        )
    if math.isinf(a) or G >= N:
        # alpha = inf: a drawn example never comes back, whatever G. G >= N: a single round, i.e.
        # N draws without replacement. Both are the first N clocks of the first level.
        if N > M:
            raise SamplingError(f"n_target: alpha = inf samples without replacement, so n_target <= {M}, got {N}")
        return exact_counts(s, N, seed, Schedule(0.0, 1))
    if G == 1:
        return exact_counts(s, N, seed, Schedule(a, None))
    return scs_rounds(s, N, a, G, seed)


class Calendar:
    """Calendar queue for one window of pending clocks: buckets of consecutive times.

    ``slot(t)`` maps a time to its bucket through a fine uniform grid in log-time whose cells point at
    buckets whose boundaries are quantiles of the window's times, so buckets hold similar numbers of
    clocks and ``slot`` costs O(1). Correctness only needs ``slot`` to be non-decreasing in time: then
    every clock in bucket ``j`` rings before every clock in bucket ``j + 1``.
    """

    def __init__(self, lo: float, hi: float, sample: np.ndarray, n_buckets: int):
        """Buckets over ``(lo, hi]`` with boundaries at quantiles of ``sample`` (times in the window)."""
        self.n = max(1, min(int(n_buckets), 1 << 14))
        sample = np.sort(sample)
        start = lo if lo > 0 else (float(sample[0]) if sample.size else hi)
        if self.n == 1 or sample.size < 2 or not (0 < start < hi and math.isfinite(hi)):
            self.n, self.a, self.scale, self.cells = 1, 0.0, 0.0, np.zeros(1, dtype=np.int16)
        else:
            bounds = sample[np.linspace(0, sample.size, self.n + 1)[1:-1].astype(np.intp)]
            n_cells = int(min(1 << 18, 64 * self.n))
            self.a = math.log(start)
            self.scale = n_cells / (math.log(hi) - self.a)
            edges = np.exp(self.a + np.arange(n_cells) / self.scale)
            self.cells = np.searchsorted(bounds, edges, side="right").astype(np.int16)
        self.t: list[list[np.ndarray]] = [[] for _ in range(self.n)]
        self.i: list[list[np.ndarray]] = [[] for _ in range(self.n)]
        self.size = 0

    def slot(self, t: np.ndarray) -> np.ndarray:
        if self.n == 1:
            return np.zeros(t.size, dtype=np.int16)
        x = np.log(t)
        x -= self.a
        x *= self.scale
        np.clip(x, 0, self.cells.size - 1, out=x)
        return self.cells[x.astype(np.intp)]

    def add(self, t: np.ndarray, i: np.ndarray, q: np.ndarray) -> None:
        self.size += t.size
        if q.min() == q.max():
            self.t[int(q[0])].append(t)
            self.i[int(q[0])].append(i)
            return
        order = np.argsort(q, kind="stable")  # radix sort (int16)
        q, t, i = q[order], t[order], i[order]
        cuts = (np.flatnonzero(q[1:] != q[:-1]) + 1).tolist()
        for a, b in zip([0] + cuts, cuts + [q.size]):
            self.t[int(q[a])].append(t[a:b])
            self.i[int(q[a])].append(i[a:b])

    def pop(self, j: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        t, i = self.t[j], self.i[j]
        self.t[j], self.i[j] = [], []
        self.size -= sum(x.size for x in t)
        return t, i


def scs_rounds(s, n_target, alpha, group_size, seed, window=None) -> np.ndarray:
    """Event-driven SCS with rounds of ``group_size`` picks (see module docstring).

    State: ``P[i]``, the pending clock time of every example whose clock rings after the current
    window bound ``B``, and a calendar queue for the clocks at or before ``B``. A window ``(B_prev, B]``
    holding about ``window`` clocks is pulled out of ``P`` by one chunked scan and spread over time
    buckets (:class:`_Calendar`). Buckets join a flat *pool* in time order until it holds at least ``k``
    clocks; every clock outside the pool rings after every clock inside it, so a round's ``k`` picks are
    the ``k`` smallest pool times (``np.argpartition``) and the round ends at the largest of them,
    ``tau``. Each picked example is re-armed at ``tau + Exp(new rate)`` into the pool, a later bucket, or,
    beyond ``B``, into ``P`` (entries of ``P`` at or below ``B`` are stale and never scanned again, as
    windows only move forward). Every clock is moved O(1) times; a round costs O(k + bucket size).
    """
    M = s.size
    N, G = n_target, group_size
    smax = float(s.max())
    draw = Exp(seed)
    table = Schedule(alpha, None).table(-(-N // G) + 2)  # counts never exceed ceil(N/G)
    counts = np.zeros(M, dtype=np.int32)
    P = np.empty(M, dtype=np.float64)
    w = np.empty(min(M, CHUNK))
    for a in range(0, M, CHUNK):
        b = min(M, a + CHUNK)
        wa = w[: b - a]
        np.subtract(smax, s[a:b], out=wa, dtype=np.float64)
        with np.errstate(over="ignore"):
            np.exp(wa, out=wa)
        draw.range(a, b, 1, out=P[a:b])
        P[a:b] *= wa
    del w
    W = int(window) if window else max(4 * G, min(M, 1 << 25))
    stride = max(1, M // (1 << 18))
    B = 0.0
    exhausted = False  # no finite pending time above B is left in P
    cal = Calendar(0.0, 0.0, np.empty(0), 1)
    cur = cal.n - 1  # buckets <= cur have joined the pool
    pool_t, pool_i = [np.empty(0)], [np.empty(0, dtype=np.int64)]
    pool_n = 0
    done = 0
    bar = progress(total=N, desc=f"SCS rounds of {G}", unit="picks", unit_scale=True)
    while done < N:
        k = min(G, N - done)
        while pool_n < k:
            if cur + 1 < cal.n:  # the next bucket joins the pool
                cur += 1
                ts, is_ = cal.pop(cur)
                pool_t += ts
                pool_i += is_
                pool_n += sum(x.size for x in ts)
                continue
            if exhausted:
                raise SamplingError(f"n_target: only {done + pool_n} picks are possible, got {N}")
            # pull the next window (B, B_new] out of P, about W clocks, in chunks
            sample_p = P[::stride]
            sample_p = sample_p[(sample_p > B) & np.isfinite(sample_p)]
            r = -(-W // stride)
            if sample_p.size > r:
                B_new = float(np.partition(sample_p, r)[r])
            else:
                B_new = B
                for a in range(0, M, CHUNK):
                    p = P[a : a + CHUNK]
                    p = p[np.isfinite(p)]
                    if p.size:
                        B_new = max(B_new, float(p.max()))
                exhausted = True
            if B_new <= B:
                continue
            in_win = sample_p[sample_p <= B_new]
            cal = Calendar(B, B_new, in_win, min(768, -(-(in_win.size * stride) // max(1, G // 2))))
            for a in range(0, M, 1 << 20):
                p = P[a : a + (1 << 20)]
                m = p > B
                m &= p <= B_new
                idx = np.flatnonzero(m)
                if idx.size:
                    t = p[idx]
                    idx += a
                    cal.add(t, idx, cal.slot(t))
            cur = -1
            B = B_new
        if len(pool_t) > 1:
            pool_t, pool_i = [np.concatenate(pool_t)], [np.concatenate(pool_i)]
        pt, pi = pool_t[0], pool_i[0]
        if pt.size > k:
            sel = np.argpartition(pt, k - 1)[:k]
            tau = float(pt[sel].max())
            pick = pi[sel]
            keep = np.ones(pt.size, dtype=bool)
            keep[sel] = False
            pool_t, pool_i = [pt[keep]], [pi[keep]]
        else:
            tau = float(pt.max())
            pick = pi
            pool_t, pool_i = [np.empty(0)], [np.empty(0, dtype=np.int64)]
        pool_n -= k
        pick = np.sort(pick)  # a set: sorted indices make the gathers below cache-friendly
        if not math.isfinite(tau):  # pragma: no cover - excluded by the window bound
            raise SamplingError(f"n_target: only {done} picks are possible, got {N}")
        c_new = counts[pick] + 1
        counts[pick] = c_new
        done += k
        bar.update(k)
        if done < N:  # re-arm the picked examples' clocks at the end of the round
            wp = np.subtract(smax, s[pick], dtype=np.float64)
            with np.errstate(over="ignore"):
                np.exp(wp, out=wp)
            nt = draw(pick, c_new + 1)
            nt *= wp
            nt *= table[c_new]
            nt += tau
            beyond = nt > B  # clocks inside the window are tracked by the calendar; P only beyond it
            if beyond.any():
                P[pick[beyond]] = nt[beyond]
                exhausted = False
            inw = np.flatnonzero(~beyond)
            if inw.size:
                nt, pk = nt[inw], pick[inw]
                q = cal.slot(nt)
                now = q <= cur
                if now.any():
                    pool_t.append(nt[now])
                    pool_i.append(pk[now])
                    pool_n += int(np.count_nonzero(now))
                    if not now.all():
                        later = ~now
                        cal.add(nt[later], pk[later], q[later])
                else:
                    cal.add(nt, pk, q)
    bar.close()
    return counts
