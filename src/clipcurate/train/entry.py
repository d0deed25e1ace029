"""``python -m clipcurate.train.entry ARGS``: open_clip_train's main with a seeded sample shuffle.

open_clip_train builds its webdataset pipeline with ``wds.shuffle(bufsize, initial)`` and no rng,
so webdataset seeds that buffer from the process id and the clock: two runs of the same config
see the samples in different orders and train different models. This entry point makes
``wds.shuffle`` default to ``random.Random(seed)`` (``seed`` from ``CLIPCURATE_SHUFFLE_SEED``,
the run's ``--seed`` otherwise) and then runs open_clip_train unchanged. On CPU the same config
then gives bit-identical weights; on GPUs cuDNN kernels remain a source of run-to-run noise.

On CPU (``--device cpu``) it also lets open_clip_train's AdamW take PyTorch's fused kernel, the
same update in one pass over each tensor. The tiny CLIP's token embedding (49,408 x 64) holds 95%
of its parameters, and the per-tensor AdamW spent about 40% of a training step on it.
"""

from __future__ import annotations

import os
import random
import sys

import webdataset as wds


def _arg(argv: list[str], flag: str, default=None):
    """The value after ``flag`` on the training command line, or ``default``."""
    return argv[argv.index(flag) + 1] if flag in argv else default


def _seed_from_argv(argv: list[str]) -> int:
    return int(_arg(argv, "--seed", 0))


def seed_sample_shuffle(seed: int) -> None:
    """Make ``wds.shuffle`` without an explicit rng use ``random.Random(seed)``."""
    original = wds.shuffle
    if getattr(original, "_clipcurate_seeded", False):
        return

    def seeded_shuffle(*args, **kwargs):
        kwargs.setdefault("rng", random.Random(seed))
        return original(*args, **kwargs)

    seeded_shuffle._clipcurate_seeded = True
    wds.shuffle = seeded_shuffle


def fuse_cpu_adamw() -> None:
    """Make ``torch.optim.AdamW`` default to ``fused=True`` (PyTorch >= 2.4 has a CPU kernel)."""
    import torch

    original = torch.optim.AdamW
    if getattr(original, "_clipcurate_fused", False):
        return

    class FusedAdamW(original):
        _clipcurate_fused = True

        def __init__(self, params, *args, **kwargs):
            kwargs.setdefault("fused", True)
            super().__init__(params, *args, **kwargs)

    torch.optim.AdamW = FusedAdamW


def _device_from_argv(argv: list[str]) -> str | None:
    return _arg(argv, "--device")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    seed_sample_shuffle(int(os.environ.get("CLIPCURATE_SHUFFLE_SEED", _seed_from_argv(argv))))
    if _device_from_argv(argv) == "cpu":
        fuse_cpu_adamw()
    from open_clip_train.main import main as train_main

    train_main(argv)


if __name__ == "__main__":
    main()
