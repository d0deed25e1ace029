"""Scene samplers shared by the pool and the reference sets."""

from __future__ import annotations

import numpy as np

from . import concepts as C


def generic_scene(rng: np.random.Generator, cfg: dict) -> C.Scene:
    if rng.random() < cfg["digit_fraction"]:
        return C.sample_digit_scene(rng)
    return C.sample_shape_scene(rng)


def different_scene(rng: np.random.Generator, cfg: dict, scene: C.Scene) -> C.Scene:
    while True:
        other = generic_scene(rng, cfg)
        if other.cls != scene.cls:
            return other


def shape_cls(scene: C.Scene) -> str | None:
    """The shape class of a shape scene (the ImageNet-analogue label), else None."""
    return scene.cls if scene.subject == "shape" else None
