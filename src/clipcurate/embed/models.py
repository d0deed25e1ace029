"""Model specs and loading.

A model spec is ``{arch, pretrained}`` and names weights in one of the forms open_clip 3.3 accepts:

- ``{arch: ViT-B-32, pretrained: openai}``: an open_clip model name and one of its pretrained tags
  (``open_clip.list_pretrained_tags_by_model``), fetched by open_clip into its cache;
- ``{arch: ViT-B-32, pretrained: /path/or/relative/weights.bin}``: an open_clip model name (or a
  tiny config shipped in ``clipcurate/embed/model_configs/``) and a local checkpoint file;
- ``{arch: ViT-B-32, pretrained: hf-hub:org/repo}`` or ``{arch: hf-hub:org/repo}``: a Hugging Face
  Hub repository holding ``open_clip_config.json`` and the weights. open_clip takes ``hf-hub:`` only
  as the *model name* (as ``pretrained`` it says "not a known tag"), so the spec's ``pretrained``
  form is passed on as the model name; the config comes from the repository;
- ``{arch: ..., pretrained: local-dir:/path}`` or ``{arch: local-dir:/path}``: a folder with
  ``open_clip_config.json`` and ``open_clip_pytorch_model.bin`` (or ``.safetensors``), the same
  thing on disk;
- ``pretrained: null``: a random initialisation.

Loading goes through ``open_clip.create_model_and_transforms`` in every case (see
:func:`open_clip_args`), so the tiny world's self-trained models and published weights at real
scale take the same path. Hub downloads use the Hugging Face cache (``HF_HUB_CACHE``); on a compute
node without internet, fill the cache beforehand and set ``HF_HUB_OFFLINE=1``.

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


HF_HUB = "hf-hub:"
LOCAL_DIR = "local-dir:"
SCHEMAS = (HF_HUB, LOCAL_DIR)


def open_clip_args(spec: Mapping) -> tuple[str, str | None]:
    """The ``(model_name, pretrained)`` pair open_clip's factory takes for a model spec.

    Raises a ValueError naming the spec when it is none of the documented forms: an unknown tag, a
    missing checkpoint file or folder, or a schema in both fields.
    """
    arch = str(spec["arch"])
    pretrained = spec.get("pretrained") or None
    pretrained = str(pretrained) if pretrained is not None else None
    if arch.startswith(SCHEMAS):
        if pretrained and pretrained != arch:
            raise ValueError(f"model spec {dict(spec)}: arch {arch!r} already names the weights; pretrained must be null")
        name = arch
    elif pretrained and pretrained.startswith(SCHEMAS):
        name = pretrained  # open_clip reads the architecture from the repository's/folder's config
    else:
        name = None
    if name is not None:
        if name.startswith(LOCAL_DIR):
            folder = Path(name[len(LOCAL_DIR):])
            if not (folder / "open_clip_config.json").is_file():
                raise FileNotFoundError(f"model spec {dict(spec)}: {folder}/open_clip_config.json does not exist")
        elif not name[len(HF_HUB):].strip("/"):
            raise ValueError(f"model spec {dict(spec)}: hf-hub: needs a repository id (hf-hub:org/repo)")
        return name, None
    if pretrained is None:
        return arch, None
    import open_clip

    if open_clip.get_pretrained_cfg(arch, pretrained):
        return arch, pretrained
    if Path(pretrained).is_file():
        return arch, pretrained
    if os.sep in pretrained or "/" in pretrained or Path(pretrained).suffix:
        raise FileNotFoundError(f"model spec {dict(spec)}: checkpoint {pretrained} does not exist")
    raise ValueError(
        f"model spec {dict(spec)}: {pretrained!r} is neither a pretrained tag of {arch} "
        f"(known: {', '.join(open_clip.list_pretrained_tags_by_model(arch)) or 'none'}) nor a checkpoint file; for a Hugging Face repository "
        f"write pretrained: hf-hub:org/repo"
    )


def load_model(spec: Mapping, device: str | torch.device = "cpu"):
    """Return ``(model, preprocess_val, tokenizer)`` for a model spec, in eval mode."""
    import open_clip

    register_tiny_configs()
    name, pretrained = open_clip_args(spec)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=device)
    tokenizer = open_clip.get_tokenizer(name)
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
    from clipcurate.core.fileio import atomic_path

    # open_clip_train's checkpoints hold tensors, numbers, strings and the optimizer/scaler state
    # dicts: the safe loader reads them, and nothing else is trusted
    ckpt = torch.load(train_checkpoint, map_location="cpu", weights_only=True)
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

