"""Perceptual-hash near duplicates: images whose 64-bit ``imagehash.phash`` differ in at most
``max_distance`` bits.

The hashes come from the pool's images (rules/dedup.smk: one job per chunk reads its shards,
``results/dedup/phash/{chunk}.parquet``, gathered into ``results/dedup/phash.parquet``, 8 bytes a
row). This method reads that file once for the pool (1 GB at 128M) and finds every pair within the
distance exactly by multi-index hashing (:func:`clipcurate.pool.dedup.hamming_pairs`: identical hashes
merged first, then pairs sharing one of ``max_distance + 1`` bit blocks compared). Duplicate groups
are the connected components; the member **first in pool order** is kept. An image that did not
decode has no hash and is never a duplicate.

``max_distance``: phash compares the low frequencies of a 32x32 DCT, so re-encoding and resizing
change few bits, a shift or crop more. 0 groups identical hashes only; the work grows quickly with
the distance at 128M (about ``(t + 1) n^2 / 2^(64 / (t + 1))`` pairs for uniform hashes).

Outputs: ``keep``; ``score`` = 1 / (the size of its group), 1 for a unique image.
"""

from __future__ import annotations

import numpy as np

from clipcurate.pool import dedup as D
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact

PHASH_FILE = "results/dedup/phash.parquet"


def _check(entry, config, key):
    t = (entry.get("params") or {}).get("max_distance", 4)
    if isinstance(t, bool) or not isinstance(t, int) or not (0 <= t <= 63):
        raise ValueError(f"config: {key}.params.max_distance: expected an integer number of bits in 0..63, got {t!r}")


@register("phash_dup", level="pool", inputs={"phash": Artifact(PHASH_FILE)}, outputs=("score", "keep"),
          defaults={"max_distance": 4}, check=_check)
def phash_dup(params: dict, phash: str) -> dict[str, np.ndarray]:
    """Keep the first image in pool order of each group of hashes within ``max_distance`` bits."""
    from clipcurate.core import fileio

    t = fileio.read_parquet(phash, ["phash", "valid"], what="phash file")
    h = t.column("phash").to_numpy(zero_copy_only=False).astype(np.uint64)
    valid = t.column("valid").to_numpy(zero_copy_only=False).astype(bool)
    keep, size = D.phash_groups(h, valid, int(params["max_distance"]))
    return {"keep": keep, "score": D.dup_score(size)}
