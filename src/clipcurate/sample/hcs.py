"""Hard Cap Sampling and no-cap sampling (FLYT's baselines, Sections 4.3 and C.10).

Both are the exact continuous-time path of :mod:`clipcurate.sample.race`: HCS with clocks that stop
after ``beta`` events, no-cap with unpenalised clocks.
"""

from __future__ import annotations

import numpy as np

from clipcurate.sample.race import Schedule, exact_counts
from clipcurate.sample.validate import SamplingError, as_int, as_n_target, as_scores, as_seed


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
    s = as_scores(s)
    N = as_n_target(n_target)
    b = as_int("beta", beta, 1)
    seed = as_seed(seed)
    chunk = as_int("batch_size", batch_size, 1)
    if b * s.size < N:
        raise SamplingError(
            f"beta: beta * len(scores) = {b} * {s.size} = {b * s.size} < n_target = {N}; the cap cannot reach N"
        )
    return exact_counts(s, N, seed, Schedule(0.0, b), chunk=chunk)


def nocap(s, n_target, seed) -> np.ndarray:
    """No-cap sampling: ``N`` draws with replacement from ``softmax(s)`` (multinomial counts).

    The continuous-time path with unpenalised clocks (equivalently SCS with alpha = 0 and G = 1).
    """
    s = as_scores(s)
    N = as_n_target(n_target)
    seed = as_seed(seed)
    return exact_counts(s, N, seed, Schedule(0.0, None))
