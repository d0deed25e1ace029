"""The world's configuration: the pool kinds, the defaults of ``world:`` and their validation.

``resolve_cfg`` merges a ``world:`` config section over :data:`DEFAULT_CFG` and refuses unknown keys,
so a typo fails at planning time (``clipcurate.config.check`` calls it) rather than in the job.
"""

from __future__ import annotations

import copy
from typing import Iterable

import numpy as np

from .verify import WorldError

KINDS: tuple[str, ...] = (
    "clean", "misaligned", "scene_text", "near_duplicate", "non_english",
    "uninformative", "bad_geometry", "failing_url", "face", "eval_copy",
)
FAILURES: tuple[str, ...] = ("404", "truncated", "not_image", "too_large")
REFERENCE_SETS: tuple[str, ...] = ("pretrain", "hq", "downstream", "retrieval_train")

DEFAULT_CFG: dict = {
    "pool_size": 20000,
    "native_size": 64,
    "kinds": {
        "clean": 0.40,
        "misaligned": 0.14,
        "scene_text": 0.10,
        "near_duplicate": 0.07,
        "non_english": 0.07,
        "uninformative": 0.06,
        "bad_geometry": 0.05,
        "failing_url": 0.07,
        "face": 0.03,  # a face-like region covering most of the image, boxed in face_bboxes
        "eval_copy": 0.01,  # copies of evaluation test images (decontamination's ground truth)
    },
    "sizes": {
        "pretrain": 12000,
        "hq": 6000,
        "downstream": 3000,
        "retrieval_train": 2000,
        "eval_per_task": 400,
    },
    # test images of single evaluation tasks, over sizes.eval_per_task: {task name: n}; a claims
    # configuration (config/claims.yaml) raises the tasks whose rows it compares
    "eval_task_sizes": {},
    # images showing rendered words in `pretrain`, captioned by those words: what teaches the
    # OpenAI-CLIP analogue to read, so that it rates the pool's scene text as OpenAI's CLIP does
    # (0.15 until issue 14: the model then preferred clean pairs to scene text, AUC 0.92)
    "pretrain_text_fraction": 0.35,
    "digit_fraction": 0.06,
    # scene-text words painted in the colour their caption names (the rest dark), pool and pretraining
    "scene_text_colour_fraction": 0.6,  # digit scenes among generic scenes (pool, pretrain, hq)
    "shard_size": 1000,  # samples per reference / eval shard
    # share of the pool's served images on a non-square canvas (4:3, 3:2, 16:9 and their
    # transposes; the scene centred, so img2dataset's center_crop recovers it)
    "non_square_fraction": 0.5,
    # share of eval copies served as exact copies (the rest: shifted by a pixel, light noise, re-encoded)
    "eval_copy_exact_fraction": 0.5,
}


def default_cfg() -> dict:
    return copy.deepcopy(DEFAULT_CFG)


def _eval_task_sizes(value) -> dict:
    """``eval_task_sizes`` checked: a mapping of the world's task names to positive integers."""
    from .eval_tasks import eval_task_names

    if not isinstance(value, dict):
        raise WorldError(f"world cfg: 'eval_task_sizes' must be a mapping of task name to test images, got {value!r}")
    known = eval_task_names()
    for task, n in value.items():
        if task not in known:
            raise WorldError(f"world cfg: eval_task_sizes: unknown task {task!r}; the world's tasks: {', '.join(known)}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise WorldError(f"world cfg: eval_task_sizes.{task} must be a positive integer, got {n!r}")
    return {str(k): int(v) for k, v in value.items()}


def resolve_cfg(cfg: dict | None) -> dict:
    """``cfg`` merged over the defaults and validated; unknown keys are an error (typos).

    A ``kinds`` mapping given in ``cfg`` replaces single fractions; kinds it does not name keep their
    defaults, and the fractions must still sum to 1.
    """
    cfg = dict(cfg or {})
    out = default_cfg()
    for key, value in cfg.items():
        if key not in out:
            raise WorldError(f"world cfg: unknown key {key!r}; known keys: {sorted(out)}")
        if key == "eval_task_sizes":
            out[key] = _eval_task_sizes(value)
        elif isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise WorldError(f"world cfg: {key!r} must be a mapping, got {value!r}")
            for sub, v in value.items():
                if sub not in out[key]:
                    raise WorldError(f"world cfg: unknown key {key}.{sub}; known: {sorted(out[key])}")
                out[key][sub] = v
        else:
            out[key] = value
    for key in ("pool_size", "native_size", "shard_size"):
        if not isinstance(out[key], (int, np.integer)) or out[key] < 1:
            raise WorldError(f"world cfg: {key} must be a positive integer, got {out[key]!r}")
    if out["native_size"] < 16:
        raise WorldError(f"world cfg: native_size must be at least 16, got {out['native_size']}")
    for sub, v in out["sizes"].items():
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise WorldError(f"world cfg: sizes.{sub} must be a non-negative integer, got {v!r}")
    if out["sizes"]["eval_per_task"] < 1:
        raise WorldError("world cfg: sizes.eval_per_task must be at least 1")
    fr = out["kinds"]
    for k, v in fr.items():
        if not isinstance(v, (int, float)) or v < 0:
            raise WorldError(f"world cfg: kinds.{k} must be a fraction >= 0, got {v!r}")
    total = float(sum(fr.values()))
    if abs(total - 1.0) > 1e-6:
        raise WorldError(f"world cfg: kinds: the fractions must sum to 1, they sum to {total:.6f}")
    if fr["near_duplicate"] > 0 and fr["clean"] <= 0:
        raise WorldError("world cfg: near_duplicate > 0 needs clean > 0 (near duplicates copy clean images)")
    for key in ("pretrain_text_fraction", "digit_fraction", "non_square_fraction", "eval_copy_exact_fraction",
                "scene_text_colour_fraction"):
        if not isinstance(out[key], (int, float)) or not 0.0 <= float(out[key]) <= 1.0:
            raise WorldError(f"world cfg: {key} must be in [0, 1], got {out[key]!r}")
    return out


def kind_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split ``n`` by ``fractions`` with the largest-remainder method (ties: the order of KINDS)."""
    exact = {k: n * float(fractions[k]) for k in KINDS}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    left = n - sum(counts.values())
    order = sorted(KINDS, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for k in order[:left]:
        counts[k] += 1
    return counts


def split_evenly(n: int, parts: Iterable[str]) -> dict[str, int]:
    parts = list(parts)
    base, extra = divmod(n, len(parts))
    return {p: base + (1 if i < extra else 0) for i, p in enumerate(parts)}
