"""A fixed, seeded uniform random sub-pool: the tiny world's stand-in for a smaller DataComp pool.

FLYT's Table 4 and Figure 4 (Section 4.4, Appendix C.11) reuse the mixing model trained at DataComp
medium (128M) on DataComp small (12.8M, a tenth of it) without retraining. On the tiny world a second,
smaller pool stands in for DataComp small: each sample is in it with probability ``fraction``, decided
by its uid alone,

    keep  <=>  u(uid) < fraction,   u(uid) = int(blake2b(f"{seed}:{uid}", 8 bytes), big-endian) / 2**64,

so the draw

* is reproducible from ``seed`` and independent of the pool's order, its chunking and every other
  sample (a chunk-level method; nothing concatenates the pool);
* is **nested**: for one seed, the sub-pool at fraction f is contained in the sub-pool at any f' > f,
  and ``fraction: 1`` keeps every sample (at real scale, where the pool is DataComp small itself);
* has a size that is Binomial(M, fraction) for a pool of M samples (blake2b's output bits behave as
  independent uniform draws for distinct inputs).

DataComp small is a pool a tenth the size of medium, drawn from the same CommonPool; a uniform draw
from the tiny pool imitates that (same distribution of kinds, smaller size). The tiny world's factor
and why it is not 1/10 are in ``config/scores/flyt_small.yaml``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata

_SCALE = 2.0 ** -64


def _check(entry, config, key):
    p = entry.get("params") or {}
    f = p.get("fraction")
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
        raise ValueError(f"config: {key}.params.fraction: expected a number in (0, 1] (the share of the pool "
                         f"in the sub-pool), got {f!r}")
    seed = p.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"config: {key}.params.seed: expected a non-negative integer, got {seed!r}")


def uniform_draw(uids, seed: int) -> np.ndarray:
    """``u(uid)`` in [0, 1) for each uid (float64): the first 8 bytes of blake2b(``"{seed}:{uid}"``)."""
    out = np.empty(len(uids), dtype=np.float64)
    prefix = f"{int(seed)}:".encode()
    for i, uid in enumerate(uids):
        h = hashlib.blake2b(prefix + str(uid).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "big") * _SCALE
    return out


@register(
    "subpool",
    level="chunk",
    inputs={"meta": Metadata(columns=("uid",))},
    outputs=("keep",),
    defaults={"fraction": None, "seed": 0},
    check=_check,
)
def subpool(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep mask of the sub-pool: ``u(uid) < fraction`` (see the module docstring)."""
    f = float(params["fraction"])
    if f >= 1.0:
        return {"keep": np.ones(meta.num_rows, dtype=bool)}
    return {"keep": uniform_draw(meta.column("uid").to_pylist(), int(params["seed"])) < f}
