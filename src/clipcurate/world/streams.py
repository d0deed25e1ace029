"""The world's random streams and uids: every component draws from its own stream, so resizing one
component leaves the others byte-identical."""

from __future__ import annotations

import hashlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one component (independent of every other component's size)."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def make_uid(seed: int, index: int) -> str:
    return hashlib.sha256(f"clipcurate-world/{int(seed)}/{int(index)}".encode()).hexdigest()[:32]
