"""Training the tiny world's part-of-speech tagger (trainer ``tagger``,
:mod:`clipcurate.train.trainers.tagger`): the captions of the world's reference sets, tagged from the
world's vocabulary (:mod:`clipcurate.world.caption_pos`), a seeded held-out share, NLTK's averaged
perceptron trained on the rest (:mod:`clipcurate.train.pos_tagger`)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from clipcurate.core import fileio


def world_captions(world_dir: str | Path, sets: str | Sequence[str]) -> list[str]:
    """Every caption (``.txt`` member) of the world's reference sets ``sets``, in shard order."""
    world_dir = Path(world_dir)
    manifest = world_dir / "world.json"
    if not manifest.is_file():
        raise fileio.ContractError(f"{manifest}: the world's manifest not found")
    info = json.loads(manifest.read_text())["reference"]
    out: list[str] = []
    for name in [sets] if isinstance(sets, str) else list(sets):
        if name not in info:
            raise fileio.ContractError(f"{manifest}: no reference set {name!r}; it has {sorted(info)}")
        folder = world_dir / info[name]["path"]
        for k in range(int(info[name]["shards"])):
            shard = folder / f"{k:08d}.tar"
            with tarfile.open(shard) as tf:
                for m in tf:
                    if m.isfile() and m.name.endswith(".txt"):
                        out.append(tf.extractfile(m).read().decode("utf-8"))
    return out


def split_held_out(n: int, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) row indices: a seeded random ``held_out`` share of ``n`` rows held out."""
    rng = np.random.default_rng([int(seed), 0x7A66])
    perm = rng.permutation(n)
    k = int(round(n * float(held_out)))
    return np.sort(perm[k:]), np.sort(perm[:k])


def train_world_tagger(captions: Sequence[str], cfg: Mapping, seed: int, out_folder: str | Path) -> dict:
    """Tag ``captions`` from the world's vocabulary, train on the training share, save the tagger
    in ``out_folder`` and return the training report (counts and held-out token accuracy)."""
    from clipcurate.train import pos_tagger
    from clipcurate.world.caption_pos import tag_captions

    captions = list(captions)
    if cfg.get("max_captions") and len(captions) > int(cfg["max_captions"]):
        rng = np.random.default_rng([int(seed), 0x7A67])
        captions = [captions[i] for i in np.sort(rng.choice(len(captions), int(cfg["max_captions"]), replace=False))]
    tagged = tag_captions(captions)
    train_idx, test_idx = split_held_out(len(tagged), float(cfg.get("held_out", 0.1)), seed)
    train = [tagged[i] for i in train_idx]
    test = [tagged[i] for i in test_idx]
    tagger = pos_tagger.train_tagger(train, iterations=int(cfg.get("iterations", 5)), seed=seed)
    pos_tagger.save_tagger(tagger, out_folder)
    report = {"captions": len(tagged), "train": len(train), "held_out": len(test),
              "train_accuracy": pos_tagger.accuracy(tagger, train),
              "held_out_accuracy": pos_tagger.accuracy(tagger, test) if test else None,
              "tags": sorted(tagger.classes), "seed": int(seed), "config": dict(cfg)}
    return report
