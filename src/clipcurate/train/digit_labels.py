"""Digit labels of the tiny world's reference sets, from its generator (the digit detector's training
labels, :mod:`clipcurate.train.trainers.digit_detector`). Apart from :mod:`clipcurate.scores.helpers.digit_detect` so that
the ``digits`` score's code version does not count the world's generator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clipcurate.scores.helpers.digit_detect import DigitError


def world_digit_labels(world_dir, set_name: str) -> np.ndarray:
    """Whether each sample of the world's reference set ``set_name`` is a digit scene (in key order).

    The generator's plan of the set is a pure function of the world's seed and resolved config
    (``world.json``), so it is recomputed here (:func:`clipcurate.world.generate.plan_reference`) and
    checked against the shards: every sample's caption must be the plan's, else the world was made by
    other code and the labels would be wrong (an error naming the shard and key).
    """
    from clipcurate.embed.encode import iter_reference_samples
    from clipcurate.world.generate import plan_reference

    world_dir = Path(world_dir)
    manifest = world_dir / "world.json"
    if not manifest.exists():
        raise DigitError(f"{manifest}: the world's manifest not found (digit labels come from the tiny world)")
    meta = json.loads(manifest.read_text())
    cfg, seed = meta["cfg"], int(meta["seed"])
    if set_name not in cfg["sizes"]:
        raise DigitError(f"{manifest}: the world has no reference set {set_name!r}")
    plan = plan_reference(set_name, int(cfg["sizes"][set_name]), cfg, seed)
    labels = np.array([p["job"][1].subject == "digit" for p in plan], dtype=bool)
    n = 0
    for key, _, caption, _ in iter_reference_samples(world_dir / "reference" / set_name):
        i = int(key.rsplit("/", 1)[-1])
        if i >= len(plan) or plan[i]["txt"] != caption:
            raise DigitError(f"{world_dir / 'reference' / set_name}: sample {key} is not the generator's sample {i} "
                             "(its caption differs); regenerate the world with this code")
        n += 1
    if n != len(plan):
        raise DigitError(f"{world_dir / 'reference' / set_name}: {n} samples, the generator's plan has {len(plan)}")
    return labels


def embedding_rows(keys) -> np.ndarray:
    """Sample numbers of a reference embedding file's keys (``<shard>/<key>``, key = the sample's number)."""
    try:
        return np.array([int(str(k).rsplit("/", 1)[-1]) for k in keys], dtype=np.int64)
    except ValueError as e:
        raise DigitError(f"reference embedding keys are not <shard>/<sample number>: {e}") from None
