"""Model specs and loading (docs/architecture.md, section 4).

A model spec is ``{arch, pretrained}``: ``arch`` is an open_clip model name (``ViT-B-32``) or one
of the tiny configs shipped in ``clipcurate/model_configs/``; ``pretrained`` is an open_clip tag
(``openai``), an ``hf-hub:`` id, a local checkpoint path, or null. Loading goes through
``open_clip.create_model_and_transforms`` in every case, so the tiny world's self-trained models and
published weights at real scale take the same path.

For ``python -m open_clip_train.main`` (a separate process that cannot see in-process registrations)
a tiny arch is passed as ``local-dir:<dir>`` holding ``open_clip_config.json``; see
:func:`local_dir_for`.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import torch

CONFIG_DIR = Path(__file__).parent / "model_configs"
CHECKPOINT_NAME = "open_clip_pytorch_model.bin"


@lru_cache(maxsize=1)
def register_tiny_configs() -> tuple[str, ...]:
    """Register the shipped tiny architectures with open_clip (idempotent); return their names."""
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)
    return tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def is_tiny_arch(arch: str) -> bool:
    return arch in register_tiny_configs()


def tiny_config(arch: str) -> dict:
    return json.loads((CONFIG_DIR / f"{arch}.json").read_text())


def load_model(spec: Mapping, device: str | torch.device = "cpu"):
    """Return ``(model, preprocess_val, tokenizer)`` for a model spec, in eval mode."""
    import open_clip

    register_tiny_configs()
    arch = spec["arch"]
    pretrained = spec.get("pretrained") or None
    if pretrained and not str(pretrained).startswith("hf-hub:") and os.sep in str(pretrained):
        if not Path(pretrained).is_file():
            raise FileNotFoundError(f"model spec {dict(spec)}: checkpoint {pretrained} does not exist")
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained, device=device)
    tokenizer = open_clip.get_tokenizer(arch)
    model.eval()
    return model, preprocess, tokenizer


def local_dir_for(arch: str, directory: str | os.PathLike, init_checkpoint: str | None = None) -> str:
    """Write an open_clip ``local-dir:`` folder for a tiny arch and return the ``--model`` value.

    The folder holds ``open_clip_config.json`` (model and preprocessing config) and, when
    ``init_checkpoint`` is given, a copy of those weights, which open_clip then loads as the
    initialisation.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": tiny_config(arch), "preprocess_cfg": {}}
    (directory / "open_clip_config.json").write_text(json.dumps(cfg, indent=2))
    if init_checkpoint:
        state = torch.load(init_checkpoint, map_location="cpu", weights_only=True)
        torch.save(state, directory / CHECKPOINT_NAME)
    return f"local-dir:{directory}"


def export_checkpoint(train_checkpoint: str | os.PathLike, arch: str, out_dir: str | os.PathLike) -> Path:
    """Turn an open_clip_train checkpoint into weights open_clip loads as ``pretrained``.

    Writes ``out_dir/open_clip_pytorch_model.bin`` (the plain state dict, without DDP's
    ``module.`` prefix) and, for tiny archs, ``open_clip_config.json`` so the folder is also a
    valid ``local-dir:`` model. Returns the weights path.
    """
    from clipcurate.io import atomic_path

    ckpt = torch.load(train_checkpoint, map_location="cpu", weights_only=False)
    state = ckpt.get("state_dict", ckpt)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if is_tiny_arch(arch):
        cfg = {"model_cfg": tiny_config(arch), "preprocess_cfg": {}}
        (out_dir / "open_clip_config.json").write_text(json.dumps(cfg, indent=2))
    target = out_dir / CHECKPOINT_NAME
    with atomic_path(target, suffix=".bin") as tmp:
        torch.save(state, tmp)
    return target


def set_threads(threads: int) -> None:
    """Obey the rule's thread count: oversubscription on small machines costs 10x."""
    threads = max(1, int(threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
