"""From per-example scores (logits) to a training set with repetitions: the FLYT samplers.

Every sampler takes the pool's score column ``s`` (one float per pool row, in the index's canonical
order; logits, higher is better), a target dataset size ``N`` and a seed, and returns ``counts``: an
``int32`` array of length ``M = len(s)`` holding how many times each example enters the training set
(``counts.sum() == N``; the threshold baseline returns 0/1 and its own size).

Samplers (FLYT paper, Shechter & Carmon, "Filter Like You Test", Sections 3.6, 4.3 and C.10):

* :func:`threshold_top_fraction` / :func:`threshold_top_k` -- the usual "keep the top x%" baseline.
* :func:`scs` -- **Soft Cap Sampling** (Algorithm 2): rounds of ``G`` draws without replacement from
  ``softmax(s)``; every pick lowers the picked logit by ``alpha``, a soft cap on repetitions.
* :func:`hcs` -- **Hard Cap Sampling**: draws with replacement from ``softmax(s)`` restricted to the
  examples that have been drawn fewer than ``beta`` times.
* :func:`nocap` -- ``N`` draws with replacement from ``softmax(s)`` (multinomial).
* :func:`scs_reference` / :func:`hcs_reference` -- direct, slow transcriptions of the paper's
  algorithms, kept as independent references for the tests.

How the fast samplers are exact (and why they are fast)
-------------------------------------------------------
The paper's implementation recomputes a softmax over the whole pool every round (about 100 minutes
at M = N = 128M, G = 100K). Here every sampler simulates the same continuous-time race, which is exact
in distribution and costs O(M + N) vectorised work (plus N/G Python-level rounds for SCS with G > 1):

* Give example ``i`` an exponential clock of rate ``lambda_i = exp(s_i - max s)`` (its softmax weight
  up to a constant that does not matter). Among competing exponential clocks the first to ring is
  example ``i`` with probability proportional to its rate, so "the next clock to ring" is one draw from
  ``softmax(s)`` over the competing examples, and the ``k`` first distinct examples to ring are a
  successive sample without replacement (the exponential-race form of the Gumbel-top-k trick).
* By memorylessness, a clock that has not rung can be left running while other examples change rate,
  so a pick only needs a new clock for the picked example: one exponential draw per pick.
* **Exact G = 1 path** (SCS with ``G = 1``, HCS, no-cap, and SCS with ``alpha = inf`` or ``G >= N``):
  each example is an independent pure-birth process whose ``j``-th inter-arrival time is
  ``Exp(lambda_i * m_j)`` (``m_j = exp(-alpha * (j-1))`` for SCS, 1 for no-cap, 1 for the first
  ``beta`` events and then 0 for HCS). The sampler's output is each example's number of events up to
  the time ``tau`` of the ``N``-th event of the superposition. The processes are independent, so they
  are generated level by level in vectorised numpy (level ``j`` = every example's ``j``-th event),
  chunk by chunk of the pool, keeping only the events below a horizon ``H``. ``tau`` is located inside a
  bracket ``(L, H]`` estimated from a strided subsample of the pool (recursively: the subsample's own
  ``tau`` is found the same way); only the few events inside the bracket are stored, and
  ``np.argpartition`` picks the first ``N``. A bracket that misses ``tau`` is retried wider; that costs
  time but never changes the result (see "Random numbers"). Memory: the counts plus O(chunk).
* **Rounds, G > 1** (SCS): within a round the rates are frozen and an example rings at most once; the
  round picks the ``k`` smallest pending clock times and ends at the largest of them, ``tau_r``; each
  picked example gets a fresh clock ``tau_r + Exp(new rate)`` and the others keep theirs
  (memorylessness). This is an event loop over ``N`` picks with a calendar queue (see
  :func:`_scs_rounds`): windows of pending times are pulled out of the pool array by a scan and spread
  over time buckets, buckets join a small pool in time order, and a round is one ``np.argpartition`` of
  that pool. For ``G = 1`` it is the one-at-a-time process driven by the same clocks as the exact path
  and returns identical counts (a test checks this), so the two paths check each other.

Random numbers
--------------
All randomness of the fast samplers comes from a counter-based generator: the exponential variate of
the ``j``-th clock of example ``i`` is a fixed function of ``(seed, i, j)``: the counter
``c = i * 2**32 + j`` goes through ``z = mix(mix(c * 0x9E3779B97F4A7C15 + k0) + k1)`` (``mix`` is the
SplitMix64 finaliser, ``k0, k1`` come from ``numpy.random.SeedSequence(seed)``), then
``u = (z >> 11 + 0.5) / 2**53`` and ``E = -log(u)``. Consequences: the output does not depend on chunk
sizes, horizon guesses, retries or the order in which work is done; a G = 1 run of the rounds code is
comparable draw for draw with the exact path; the same inputs give identical counts on the same machine
and numpy (numpy's SIMD ``exp``/``log`` may differ in the last bit between CPU families, which could
rarely flip a near-tie). The references use ``numpy.random.default_rng(seed)``, as the paper's code does.

Numerical notes: times are float64 and rates enter as inverse rates ``exp(max s - s_i) >= 1`` (computed
from ``s - max s``, so nothing overflows for realistic logits); an inverse rate that overflows (a score
more than ~709 below the maximum, or ``alpha * count`` above ~709) is an infinite time, i.e. "never
rings", never a NaN. Ties between event times have probability zero in exact arithmetic; in floating
point they are broken deterministically (``np.argpartition``).
"""

from __future__ import annotations

import math
import numbers
from typing import Mapping

import numpy as np

from clipcurate.progress import progress

__all__ = [
    "SamplingError",
    "threshold_top_fraction",
    "threshold_top_k",
    "scs",
    "scs_reference",
    "hcs",
    "hcs_reference",
    "nocap",
    "sample",
    "check_param",
    "check_params",
    "repetition_stats",
    "repetition_histogram",
    "default_group_size",
    "METHODS",
    "REQUIRED",
]

#: methods understood by :func:`sample`, with the parameters each accepts.
METHODS: dict[str, tuple[str, ...]] = {
    "threshold": ("fraction",),
    "scs": ("alpha", "group_size"),
    "hcs": ("beta", "batch_size"),
    "nocap": (),
}

#: parameters each sampler requires (the other ones in :data:`METHODS` are optional).
REQUIRED: dict[str, tuple[str, ...]] = {"threshold": ("fraction",), "scs": ("alpha",), "hcs": ("beta",), "nocap": ()}

#: the paper samples N = 128M in 1280 rounds of G = 100K; :func:`default_group_size` keeps that ratio.
PAPER_ROUNDS = 1280

_CHUNK = 1 << 22  # pool rows per vectorised chunk of the exact path (memory/speed only)
_HASH_CHUNK = 1 << 17  # elements per hashing sub-chunk (keeps the uint64 temporaries in cache)
_BASE = 1 << 16  # below this many rows the horizon is found by doubling instead of by subsampling
_SUB_STRIDE = 64  # stride of the subsample used to estimate the N-th event time
_MAX_ATTEMPTS = 200
_LEVEL_BLOCK_MIN = 1024  # below this many active examples, generate levels in blocks
_LEVEL_BLOCK = 32


class SamplingError(ValueError):
    """Bad sampler input; the message names the parameter and what was expected."""


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------


def _as_scores(s) -> np.ndarray:
    """Validate the score vector: 1-D, non-empty, real, finite. float32/float64 are kept (no copy)."""
    arr = np.asarray(s)
    if arr.ndim != 1:
        raise SamplingError(f"scores: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise SamplingError("scores: expected a non-empty array, got 0 elements")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise SamplingError(f"scores: expected real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.size >= 2**32:
        raise SamplingError(f"scores: at most 2**32 - 1 examples are supported, got {arr.size}")
    step = 1 << 22
    for start in range(0, arr.size, step):
        part = arr[start : start + step]
        ok = np.isfinite(part)
        if not ok.all():
            bad = start + int(np.flatnonzero(~ok)[0])
            raise SamplingError(f"scores: expected finite values, found {arr[bad]!r} at index {bad}")
    return arr


def _as_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """An integer parameter (Python/numpy ints, or floats with an integral value) within bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, numbers.Real)):
        raise SamplingError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise SamplingError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    v = int(value)
    if v < minimum:
        raise SamplingError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if maximum is not None and v > maximum:
        raise SamplingError(f"{name}: expected an integer <= {maximum}, got {value!r}")
    return v


def _as_n_target(n_target) -> int:
    # counts are int32, so N must fit in one
    return _as_int("n_target", n_target, 1, 2**31 - 1)


def _as_alpha(alpha) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise SamplingError(f"alpha: expected a number >= 0 (inf allowed), got {alpha!r}")
    a = float(alpha)
    if math.isnan(a) or a < 0:
        raise SamplingError(f"alpha: expected a number >= 0 (inf allowed), got {alpha!r}")
    return a


def _as_seed(seed) -> int:
    # an explicit integer: the workflow promises byte-identical subsets for the same config
    return _as_int("seed", seed, 0)


def default_group_size(n_target: int) -> int:
    """SCS group size used when a recipe gives none: ``ceil(N / 1280)``.

    The paper samples its medium-scale set (N = 128M) in groups of G = 100K, i.e. 1280 rounds. A fixed
    G = 100K would turn SCS into plain sampling without replacement on small pools (G >= N means one
    round), so the default keeps the paper's number of rounds instead; it is exactly 100K at N = 128M.
    """
    return max(1, -(-int(n_target) // PAPER_ROUNDS))


# ----------------------------------------------------------------------------------------------
# counter-based exponential variates
# ----------------------------------------------------------------------------------------------

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray, tmp: np.ndarray) -> None:
    """SplitMix64 finaliser, in place (a bijection of uint64)."""
    np.right_shift(z, 30, out=tmp)
    z ^= tmp
    z *= _MIX1
    np.right_shift(z, 27, out=tmp)
    z ^= tmp
    z *= _MIX2
    np.right_shift(z, 31, out=tmp)
    z ^= tmp


class _Exp:
    """Exp(1) variates indexed by (example id, clock number): ``E(i, j)``, a fixed function of the seed."""

    def __init__(self, seed: int):
        k = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
        self.k0, self.k1 = np.uint64(k[0]), np.uint64(k[1])

    def range(self, start: int, stop: int, j: int, out: np.ndarray) -> np.ndarray:
        """``E(i, j)`` for ``i`` in ``range(start, stop)``, into ``out``."""
        for a in range(start, stop, _HASH_CHUNK):
            b = min(stop, a + _HASH_CHUNK)
            self(np.arange(a, b, dtype=np.int64), j, out=out[a - start : b - start])
        return out

    def __call__(self, ids: np.ndarray, j, out: np.ndarray | None = None) -> np.ndarray:
        """``E(ids[n], j[n])`` (``j`` scalar or array, 1-based clock number) as float64."""
        ids = np.asarray(ids)
        if out is None:
            out = np.empty(ids.shape, dtype=np.float64)
        scalar_j = np.ndim(j) == 0
        for a in range(0, ids.size, _HASH_CHUNK):
            b = min(ids.size, a + _HASH_CHUNK)
            z = ids[a:b].astype(np.uint64)
            z <<= np.uint64(32)
            if scalar_j:
                z |= np.uint64(j)
            else:
                z |= np.asarray(j[a:b]).astype(np.uint64)
            z *= _GAMMA
            z += self.k0
            tmp = np.empty_like(z)
            _mix64(z, tmp)
            z += self.k1
            _mix64(z, tmp)
            z >>= np.uint64(11)  # 53 random bits
            u = out[a:b]
            u[...] = z  # exact conversion (< 2**53)
            u += 0.5
            u *= 2.0**-53  # uniform on (0, 1), never 0 or 1
            np.log(u, out=u)
            np.negative(u, out=u)
        return out


# ----------------------------------------------------------------------------------------------
# rate schedules
# ----------------------------------------------------------------------------------------------


class _Schedule:
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


# ----------------------------------------------------------------------------------------------
# the exact continuous-time path (SCS G=1, HCS, no-cap, SCS alpha=inf)
# ----------------------------------------------------------------------------------------------


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


def _exact_counts(s, n_target, seed, sched, chunk=_CHUNK) -> np.ndarray:
    s = np.asarray(s)
    smax = float(s.max())
    reach = _reachable(s, smax, sched)
    if n_target > reach:
        raise SamplingError(
            f"n_target: at most {int(reach)} picks are possible with these scores and caps, got {n_target}"
        )
    counts = np.zeros(s.size, dtype=np.int32)
    _event_times(s, smax, 0, 1, _Exp(seed), sched, n_target, n_target, counts, int(chunk))
    return counts


# ----------------------------------------------------------------------------------------------
# the rounds path (SCS with 1 < G < N)
# ----------------------------------------------------------------------------------------------


class _Calendar:
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


def _scs_rounds(s, n_target, alpha, group_size, seed, window=None) -> np.ndarray:
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
    draw = _Exp(seed)
    table = _Schedule(alpha, None).table(-(-N // G) + 2)  # counts never exceed ceil(N/G)
    counts = np.zeros(M, dtype=np.int32)
    P = np.empty(M, dtype=np.float64)
    w = np.empty(min(M, _CHUNK))
    for a in range(0, M, _CHUNK):
        b = min(M, a + _CHUNK)
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
    cal = _Calendar(0.0, 0.0, np.empty(0), 1)
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
                for a in range(0, M, _CHUNK):
                    p = P[a : a + _CHUNK]
                    p = p[np.isfinite(p)]
                    if p.size:
                        B_new = max(B_new, float(p.max()))
                exhausted = True
            if B_new <= B:
                continue
            in_win = sample_p[sample_p <= B_new]
            cal = _Calendar(B, B_new, in_win, min(768, -(-(in_win.size * stride) // max(1, G // 2))))
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


# ----------------------------------------------------------------------------------------------
# public samplers
# ----------------------------------------------------------------------------------------------


def threshold_top_k(s, k) -> np.ndarray:
    """0/1 counts keeping the ``k`` highest scores (the standard filtering baseline).

    Ties at the cut are broken deterministically by **lower index first**: the pool index order is
    canonical, so the same scores always give the same subset.
    """
    s = _as_scores(s)
    k = _as_int("k", k, 0, s.size)
    counts = np.zeros(s.size, dtype=np.int32)
    if k == 0:
        return counts
    v = np.partition(s, s.size - k)[s.size - k]  # the k-th largest score
    above = s > v
    counts[above] = 1
    missing = k - int(np.count_nonzero(above))
    counts[np.flatnonzero(s == v)[:missing]] = 1  # lower indices win ties
    return counts


def threshold_top_fraction(s, fraction) -> np.ndarray:
    """0/1 counts keeping the top ``n = floor(fraction * M)`` scores; ties go to lower indices.

    ``fraction * M`` is rounded to 6 decimals before the floor so that binary floating point does not
    drop an example (``0.29 * 100`` is 28.999999999999996 in float64; the intended n is 29).
    A fraction so small that n = 0 gives an empty selection.
    """
    s = _as_scores(s)
    if isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, numbers.Real):
        raise SamplingError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f <= 1.0):
        raise SamplingError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    n = int(math.floor(round(f * s.size, 6)))
    return threshold_top_k(s, n)


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
    s = _as_scores(s)
    N = _as_n_target(n_target)
    a = _as_alpha(alpha)
    G = default_group_size(N) if group_size is None else _as_int("group_size", group_size, 1)
    seed = _as_seed(seed)
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
        return _exact_counts(s, N, seed, _Schedule(0.0, 1))
    if G == 1:
        return _exact_counts(s, N, seed, _Schedule(a, None))
    return _scs_rounds(s, N, a, G, seed)


def hcs(s, n_target, beta, seed, batch_size=1_000_000) -> np.ndarray:
    """Hard Cap Sampling, the paper's capped baseline: draws from ``softmax(s)`` capped at ``beta`` each.

    Each draw is from ``softmax(s)`` restricted to the examples drawn fewer than ``beta`` times
    (renormalised). The paper's code draws batches from the distribution restricted at the start of the
    batch and rejects draws of examples that reached the cap during the batch; a rejected draw followed
    by the next one is rejection sampling from the currently eligible examples, so the batched and the
    one-at-a-time processes have the same law. Here it is the exact continuous-time path with clocks
    that stop after ``beta`` events; ``batch_size`` is the number of pool rows processed per vectorised
    chunk (memory and speed only: the result does not depend on it).

    Raises :class:`SamplingError` for beta < 1 or non-integer, and when ``beta * M < N``.
    """
    s = _as_scores(s)
    N = _as_n_target(n_target)
    b = _as_int("beta", beta, 1)
    seed = _as_seed(seed)
    chunk = _as_int("batch_size", batch_size, 1)
    if b * s.size < N:
        raise SamplingError(
            f"beta: beta * len(scores) = {b} * {s.size} = {b * s.size} < n_target = {N}; the cap cannot reach N"
        )
    return _exact_counts(s, N, seed, _Schedule(0.0, b), chunk=chunk)


def nocap(s, n_target, seed) -> np.ndarray:
    """No-cap sampling: ``N`` draws with replacement from ``softmax(s)`` (multinomial counts).

    The continuous-time path with unpenalised clocks (equivalently SCS with alpha = 0 and G = 1).
    """
    s = _as_scores(s)
    N = _as_n_target(n_target)
    seed = _as_seed(seed)
    return _exact_counts(s, N, seed, _Schedule(0.0, None))


# ----------------------------------------------------------------------------------------------
# references (slow, direct transcriptions; used by the tests)
# ----------------------------------------------------------------------------------------------


def _softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x)
    e = np.exp(x - m)
    return e / e.sum()


def scs_reference(s, n_target, alpha, group_size, seed) -> np.ndarray:
    """Algorithm 2 verbatim: a full softmax and ``rng.choice(M, k, replace=False, p=w)`` every round.

    O(M) per round; for tests and small pools only. Uses ``numpy.random.default_rng(seed)``.
    """
    s = _as_scores(s).astype(np.float64)  # a copy: the logits are modified
    N = _as_n_target(n_target)
    a = _as_alpha(alpha)
    G = default_group_size(N) if group_size is None else _as_int("group_size", group_size, 1)
    rng = np.random.default_rng(_as_seed(seed))
    M = s.size
    if min(G, N) > M:
        raise SamplingError(f"group_size: min(group_size, n_target) = {min(G, N)} > {M} scores")
    if math.isinf(a) and N > M:
        raise SamplingError(f"n_target: alpha = inf samples without replacement, so n_target <= {M}, got {N}")
    counts = np.zeros(M, dtype=np.int32)
    drawn = 0
    while drawn < N:
        k = min(G, N - drawn)
        w = _softmax(s)
        pick = rng.choice(M, size=k, replace=False, p=w)
        counts[pick] += 1
        drawn += k
        s[pick] -= a  # -inf for alpha = inf: weight 0 from now on
    return counts


def hcs_reference(s, n_target, beta, seed, batch_size=1000) -> np.ndarray:
    """The paper's batched hard-cap sampler, verbatim (slow; for tests).

    Each batch draws ``batch_size`` samples with replacement from ``softmax(s)`` restricted to the
    examples below the cap (renormalised) and accepts them in order, rejecting any whose example has
    reached ``beta``; stops at N.
    """
    s = _as_scores(s).astype(np.float64)
    N = _as_n_target(n_target)
    b = _as_int("beta", beta, 1)
    B = _as_int("batch_size", batch_size, 1)
    rng = np.random.default_rng(_as_seed(seed))
    M = s.size
    if b * M < N:
        raise SamplingError(f"beta: beta * len(scores) = {b * M} < n_target = {N}")
    p = _softmax(s)
    counts = np.zeros(M, dtype=np.int32)
    total = 0
    while total < N:
        q = np.where(counts < b, p, 0.0)
        q /= q.sum()
        for d in rng.choice(M, size=B, replace=True, p=q):
            if counts[d] < b:
                counts[d] += 1
                total += 1
                if total == N:
                    break
    return counts


# ----------------------------------------------------------------------------------------------
# dispatcher and report
# ----------------------------------------------------------------------------------------------


#: integer parameters of a recipe's ``sample`` section, all >= 1 (``n`` is the target dataset size N).
_INT_PARAMS = ("n", "group_size", "beta", "batch_size")


def _show(value) -> str:
    """``repr`` of a config value, numpy scalars shown as plain numbers (``-1``, not ``np.int64(-1)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_param(key: str, value, where: str = "sample"):
    """One sampler parameter, validated and normalised (``fraction`` and ``alpha`` float, the others int).

    The bounds are those of ``$defs/sample`` in config/schema.yaml (fraction in (0, 1], alpha >= 0,
    beta, n, group_size, batch_size integers >= 1). They are repeated here because the library is also
    called without the schema (tests, notebooks, other drivers). The error names the key as
    ``{where}.{key}`` (``recipes.<name>.sample.alpha`` for a recipe), the bound and the value given, e.g.
    ``recipes.x.sample.alpha: must be >= 0, got -1``.
    """
    name = f"{where}.{key}"
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if key == "fraction":
        if real and 0.0 < float(value) <= 1.0:
            return float(value)
        raise SamplingError(f"{name}: must be in (0, 1], got {_show(value)}")
    if key == "alpha":
        if real and float(value) >= 0.0:  # NaN fails; inf is allowed (sampling without replacement)
            return float(value)
        raise SamplingError(f"{name}: must be >= 0, got {_show(value)}")
    if key in _INT_PARAMS:
        if real and math.isfinite(value) and float(value).is_integer() and value >= 1:
            return int(value)
        raise SamplingError(f"{name}: must be an integer >= 1, got {_show(value)}")
    known = ", ".join(sorted({"fraction", "alpha", *_INT_PARAMS}))
    raise SamplingError(f"{name}: unknown sampler parameter; known: {known}")


def check_params(method: str, params: Mapping | None, where: str = "sample") -> dict:
    """A sampler's method and parameters, validated: known method, no unknown or missing parameter,
    values within bounds (:func:`check_param`). Returns the normalised parameters.

    Checked before any sampling so that a bad recipe fails at once, with the key ``{where}.<param>``
    in the message, rather than deep inside a sampler after the scores were read. ``group_size: None``
    is kept (it means :func:`default_group_size`).
    """
    if method not in METHODS:
        raise SamplingError(f"{where}.method: unknown sampler {method!r}; known: {', '.join(sorted(METHODS))}")
    p = dict(params or {})
    for key in sorted(set(p) - set(METHODS[method])):
        takes = list(METHODS[method]) or "no parameter"
        raise SamplingError(f"{where}.{key}: sampler {method!r} does not take {key!r}; it takes {takes}")
    for key in REQUIRED[method]:
        if key not in p:
            raise SamplingError(f"{where}.{key}: sampler {method!r} needs parameter {key!r}")
    return {k: (v if (k == "group_size" and v is None) else check_param(k, v, where)) for k, v in p.items()}


def sample(method: str, s, n_target, params: Mapping | None, seed, where: str = "sample") -> np.ndarray:
    """Counts for a recipe's sampler: ``method`` in :data:`METHODS`, ``params`` its parameters.

    * ``threshold``: ``fraction`` (``n_target`` is not used: the size is ``floor(fraction * M)``);
    * ``scs``: ``alpha`` (required), ``group_size`` (default :func:`default_group_size`);
    * ``hcs``: ``beta`` (required), ``batch_size`` (optional, speed only);
    * ``nocap``: no parameter.

    Every error is a :class:`SamplingError` naming the key under ``where`` (``recipes.<name>.sample``
    when a recipe is sampled): the method and parameters are checked first (:func:`check_params`;
    ``n_target`` is checked as ``{where}.n``, the recipe key that sets N); errors that depend on the
    scores (non-finite scores, ``beta * M < N``, a round larger than the pool) are prefixed with ``where``.
    """
    p = check_params(method, params, where)
    n = None if method == "threshold" else check_param("n", n_target, where)
    try:
        if method == "threshold":
            return threshold_top_fraction(s, p["fraction"])
        if method == "scs":
            return scs(s, n, p["alpha"], p.get("group_size"), seed)
        if method == "hcs":
            return hcs(s, n, p["beta"], seed, batch_size=p.get("batch_size", 1_000_000))
        return nocap(s, n, seed)
    except SamplingError as err:
        raise SamplingError(f"{where}: {err}") from err


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


def repetition_histogram(counts, path_png, title: str = "") -> dict:
    """Histogram of repetitions among the selected examples (FLYT Figure 2), saved as a PNG.

    The x axis is the number of times an example appears (1, 2, ...), the y axis (log scale) how many
    examples appear that many times. Returns :func:`repetition_stats`. Drawn and written with
    :func:`clipcurate.plots.new_figure` and :func:`~clipcurate.plots.save_figure`.
    """
    from clipcurate.plots import new_figure, save_figure

    stats = repetition_stats(counts)
    reps = np.array(list(stats["histogram"]), dtype=np.int64)
    n_examples = np.array(list(stats["histogram"].values()), dtype=np.int64)
    fig = new_figure(6, 4, layout=None)
    ax = fig.add_subplot()
    ax.bar(reps, n_examples, width=max(0.9, stats["max_count"] / 200), color="#4477aa")
    if stats["n_unique"]:
        ax.set_yscale("log")
    ax.set_xlabel("repetitions of an example")
    ax.set_ylabel("number of examples")
    ax.set_title(title, fontsize=9)
    ax.text(
        0.98, 0.95,
        f"unique {stats['n_unique']:,}\ntotal {stats['n_total']:,}\nmax {stats['max_count']}",
        transform=ax.transAxes, ha="right", va="top", fontsize=8,
    )
    fig.tight_layout()
    save_figure(fig, path_png, dpi=120)
    return stats
