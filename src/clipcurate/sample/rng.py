"""Counter-based random numbers of the fast samplers (:mod:`~clipcurate.sample.race`, :mod:`~clipcurate.sample.scs`).

All randomness of the fast samplers comes from a counter-based generator: the exponential variate of
the ``j``-th clock of example ``i`` is a fixed function of ``(seed, i, j)``: the counter
``c = i * 2**32 + j`` goes through ``z = mix(mix(c * 0x9E3779B97F4A7C15 + k0) + k1)`` (``mix`` is the
SplitMix64 finaliser, ``k0, k1`` come from ``numpy.random.SeedSequence(seed)``), then
``u = (z >> 11 + 0.5) / 2**53`` and ``E = -log(u)``. Consequences: the output does not depend on chunk
sizes, horizon guesses, retries or the order in which work is done; a G = 1 run of the rounds code is
comparable draw for draw with the exact path; the same inputs give identical counts on the same machine
and numpy (numpy's SIMD ``exp``/``log`` may differ in the last bit between CPU families, which could
rarely flip a near-tie). The tests' references (tests/unit/sampling_reference.py) use
``numpy.random.default_rng(seed)``, as the paper's code does.
"""

from __future__ import annotations

import numpy as np

_HASH_CHUNK = 1 << 17  # elements per hashing sub-chunk (keeps the uint64 temporaries in cache)

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


class Exp:
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

