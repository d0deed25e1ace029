"""The one learning-rate schedule of the project's own training loops: open_clip's cosine schedule.

open_clip_train trains every CLIP here with ``open_clip_train.scheduler.cosine_lr`` (linear warm-up
to ``base_lr`` over ``warmup`` steps, then a half cosine to 0 at ``steps``). The loops that do not
run through open_clip_train (the DFN paper's binary classifier, :mod:`clipcurate.train.dfn`; the FLYT
scorers, :mod:`clipcurate.train.flyt.trainer`) use the same schedule, so it is written once, here, as a
function of the step (open_clip's version is a closure that writes into an optimizer's
``param_groups``, and FLYT schedules a reference learning rate that no optimizer holds).

The only departure from open_clip: where there is no decay phase (``steps <= warmup``) open_clip
divides by zero at ``step >= warmup``; here the rate stays at ``base_lr``.
"""

from __future__ import annotations

import math


def cosine_lr(step: int, base_lr: float, warmup: int, steps: int) -> float:
    """Learning rate at ``step`` (0-based): ``base_lr * (step + 1) / warmup`` during warm-up, then
    ``0.5 * (1 + cos(pi * (step - warmup) / (steps - warmup))) * base_lr``."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    decay_steps = steps - warmup
    if decay_steps <= 0:
        return base_lr
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / decay_steps)) * base_lr
