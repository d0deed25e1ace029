"""The shared cosine schedule (clipcurate.train.lr_schedule) against a hand-computed schedule and against
open_clip_train's own ``cosine_lr``, which trains every CLIP of the workflow."""

import math

import pytest
from open_clip_train.scheduler import cosine_lr as open_clip_cosine_lr

from clipcurate.train.lr_schedule import cosine_lr


def test_hand_computed_schedule():
    # base 1.0, warm-up 4 steps, 12 steps: warm-up 1/4, 2/4, 3/4, 4/4; then 8 decay steps of
    # 0.5 * (1 + cos(pi * e / 8)): e=0 -> 1, e=2 -> (1 + sqrt(2)/2)/2, e=4 -> 1/2, e=6 -> (1 - sqrt(2)/2)/2
    r = math.sqrt(2) / 2
    expected = {0: 0.25, 1: 0.5, 2: 0.75, 3: 1.0, 4: 1.0, 6: (1 + r) / 2, 8: 0.5, 10: (1 - r) / 2, 12: 0.0}
    for step, lr in expected.items():
        assert cosine_lr(step, 1.0, 4, 12) == pytest.approx(lr, abs=1e-12), step
    assert cosine_lr(8, 2.0e-3, 4, 12) == pytest.approx(1.0e-3, rel=1e-12)  # scales with base_lr


def test_no_warmup_and_no_decay_phase():
    assert cosine_lr(0, 0.1, 0, 10) == pytest.approx(0.1)
    assert cosine_lr(5, 0.1, 0, 10) == pytest.approx(0.05)
    # steps <= warmup: warm-up, then the base rate (open_clip divides by zero there)
    assert [cosine_lr(s, 1.0, 4, 4) for s in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("base_lr,warmup,steps", [(5e-4, 100, 5000), (1e-2, 6, 60), (2e-3, 40, 480), (0.01, 0, 37)])
def test_same_as_open_clip_train(base_lr, warmup, steps):
    class Optimizer:  # what open_clip's closure writes into
        param_groups = [{}]

    theirs = open_clip_cosine_lr(Optimizer(), base_lr, warmup, steps)
    for step in range(steps + 1):
        assert cosine_lr(step, base_lr, warmup, steps) == theirs(step), step
