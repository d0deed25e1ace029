"""Slow, direct transcriptions of FLYT's samplers: the independent references of tests/unit/test_sampling.py.

They follow the paper's algorithms line by line (a full softmax and ``rng.choice`` every round) and use
``numpy.random.default_rng(seed)``, as the paper's code does; the library's fast samplers
(:mod:`clipcurate.sample`) share none of their code but the input checks.
"""

from __future__ import annotations

import math

import numpy as np

from clipcurate.sample.scs import default_group_size
from clipcurate.sample.validate import SamplingError, as_alpha, as_int, as_n_target, as_scores, as_seed


def _softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x)
    e = np.exp(x - m)
    return e / e.sum()


def scs_reference(s, n_target, alpha, group_size, seed) -> np.ndarray:
    """Algorithm 2 verbatim: a full softmax and ``rng.choice(M, k, replace=False, p=w)`` every round.

    O(M) per round; for tests and small pools only. Uses ``numpy.random.default_rng(seed)``.
    """
    s = as_scores(s).astype(np.float64)  # a copy: the logits are modified
    N = as_n_target(n_target)
    a = as_alpha(alpha)
    G = default_group_size(N) if group_size is None else as_int("group_size", group_size, 1)
    rng = np.random.default_rng(as_seed(seed))
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
    s = as_scores(s).astype(np.float64)
    N = as_n_target(n_target)
    b = as_int("beta", beta, 1)
    B = as_int("batch_size", batch_size, 1)
    rng = np.random.default_rng(as_seed(seed))
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
