"""One configured FLYT run, from files to files: train an M-FLYT mixer or an E-FLYT head.

Inputs: the pool (shards + index), the reference CLIP (theta, initialised from a model spec and
fine-tuned along the way when ``update_reference``), the downstream set, and the scorer's inputs
(score files for M-FLYT; a frozen embedding model for E-FLYT). Outputs, written atomically:

* M-FLYT: ``mixer.json`` (input names, learned weights ``a``, the pool mean/std used to
  standardise each input; the mixer has no bias, see :mod:`.scorers`) and ``weights.csv`` (input, weight: FLYT Table 2, left);
* E-FLYT: ``head.pt`` (GLU head state dict plus what is needed to rebuild it);
* both: ``train_info.json`` (hyperparameters, per-step history, wall time, and whether the reference
  model's downstream loss started below chance: :mod:`.signal`).

Reading of the paper where it is ambiguous, following the authors' code:
the M-FLYT inputs are standardised over the whole pool before the linear layer (§4.2; the code
leaves this to the user). Upstream and downstream images go through the models' evaluation
transforms. One departure: the mixer starts at zero (uniform sample weights) rather than at
``nn.Linear``'s random initialisation, so that the learned weights (Table 2, left) are what the
meta-gradient put there; over the paper's 5000 steps the start makes no difference, over a
short tiny-world run a random start would stay visible in the table.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from clipcurate.core import fileio
from clipcurate.embed import models

from .data import downstream_batches, downstream_set, pool_score_features, upstream_batches
from .scorers import GLUHead, LinearMixer, embedding_features
from .signal import downstream_signal, signal_message
from .trainer import FlytConfig, mixer_weights_table, train_flyt

log = logging.getLogger(__name__)

__all__ = ["SCORERS", "train_run", "write_mixer", "read_mixer", "mixer_mix", "load_head", "head_scores"]

SCORERS = ("mixer", "embedding")


def _flyt_config(train: Mapping, classnames, templates, tokenizer, seed: int) -> FlytConfig:
    return FlytConfig(
        steps=int(train["steps"]),
        reference_lr=float(train["reference_lr"]),
        scorer_lr=float(train["scorer_lr"]),
        warmup=int(train["warmup"]),
        downstream_loss=str(train.get("downstream_loss", "ce")),
        classnames=classnames,
        templates=templates,
        tokenizer=tokenizer,
        update_reference=bool(train.get("update_reference", True)),
        seed=seed,
        log_every=max(1, int(train["steps"]) // 20),
    )


def train_run(
    scorer_kind: str,
    train: Mapping,
    *,
    shards: Sequence,
    index_path,
    reference_spec: Mapping,
    downstream_dir,
    out_dir,
    seed: int,
    score_specs: Sequence[tuple[str, str, str]] = (),
    embed_spec: Mapping | None = None,
    hidden_mult: float = 1.0,
    standardize: bool = True,
) -> dict:
    """Train one scorer and write its files under ``out_dir``; returns the train_info dict.

    ``standardize=False`` (M-FLYT only; FLYT Table 8's "Input standardization: No") feeds the raw
    input scores to the mixer: its stored mean/std stay 0/1, so the mix stage reads them raw too."""
    if scorer_kind not in SCORERS:
        raise ValueError(f"flyt scorer {scorer_kind!r}: expected one of {SCORERS}")
    t0 = time.time()
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    reference, preprocess, tokenizer = models.load_model(reference_spec)
    down = downstream_set(downstream_dir)
    cfg = _flyt_config(train, down["classnames"], down["templates"], tokenizer, seed)
    buffer = int(train.get("shuffle_buffer", 5000))

    if scorer_kind == "mixer":
        if not score_specs:
            raise ValueError("M-FLYT needs at least one input score")
        uids, feats = pool_score_features(index_path, score_specs)
        scorer = LinearMixer(feats.shape[1], zero_init=True)
        if standardize:
            scorer.fit_standardization(torch.from_numpy(feats))
        up = upstream_batches(shards, preprocess, tokenizer, int(train["upstream_batch"]), seed=seed,
                              shuffle_buffer=buffer, uids=uids, features=feats)
    else:
        if embed_spec is None:
            raise ValueError("E-FLYT needs the embedding model's spec")
        # A separate instance: the reference model is fine-tuned in place, the embedder stays frozen.
        frozen, frozen_pre, frozen_tok = models.load_model(embed_spec)
        for p in frozen.parameters():
            p.requires_grad_(False)
        same_inputs = dict(embed_spec).get("arch") == dict(reference_spec).get("arch")

        def feature_fn(pils, captions, images, tokens):
            if not same_inputs:
                images = torch.stack([frozen_pre(im) for im in pils])
                tokens = frozen_tok(captions)
            return embedding_features(frozen, images, tokens)

        with torch.no_grad():
            dim = int(frozen.encode_text(frozen_tok(["a"])).shape[-1])
        scorer = GLUHead(2 * dim, hidden_mult=hidden_mult)
        up = upstream_batches(shards, preprocess, tokenizer, int(train["upstream_batch"]), seed=seed,
                              shuffle_buffer=buffer, feature_fn=feature_fn)
    dn = downstream_batches(down["shards"], preprocess, int(train["downstream_batch"]), seed=seed + 1,
                            shuffle_buffer=buffer)

    scorer, history = train_flyt(reference, scorer, up, dn, cfg, log=log.info)
    info = {
        "scorer": scorer_kind,
        "train": dict(train),
        **({} if standardize else {"standardize": False}),
        "seed": seed,
        "reference_spec": dict(reference_spec),
        "downstream": {"dir": str(downstream_dir), "classes": len(down["classnames"]), "templates": len(down["templates"])},
        "steps_done": len(history),
        "seconds": round(time.time() - t0, 2),
        "history": history,
        # whether the reference model gave the meta-gradient anything to follow (:mod:`.signal`)
        "downstream_signal": downstream_signal([h["downstream_loss"] for h in history], len(down["classnames"]),
                                               cfg.downstream_loss),
    }
    warning = signal_message(info["downstream_signal"])
    if warning:
        log.warning(warning)
    if scorer_kind == "mixer":
        names = [s[0] for s in score_specs]
        write_mixer(scorer, names, out_dir / "mixer.json", out_dir / "weights.csv")
        info["weights"] = dict(mixer_weights_table(scorer, names))
    else:
        with fileio.atomic_path(out_dir / "head.pt") as tmp:
            torch.save({"state_dict": scorer.state_dict(), "d_in": scorer.d_in, "hidden_mult": hidden_mult,
                        "embed_spec": dict(embed_spec)}, tmp)
    fileio.write_json(info, out_dir / "train_info.json")
    return info


def write_mixer(mixer: LinearMixer, names: Sequence[str], json_path, csv_path) -> None:
    """The learned mixer as JSON (to score the pool without torch) and the Table 2 weights CSV."""
    table = mixer_weights_table(mixer, names)
    fileio.write_json(
        {
            "inputs": list(names),
            "weights": [w for _, w in table],
            "mean": mixer.input_mean.tolist(),
            "std": mixer.input_std.tolist(),
        },
        json_path,
    )
    with fileio.atomic_path(csv_path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["input", "weight"])
            for name, weight in table:
                w.writerow([name, f"{weight:.6f}"])


def read_mixer(path) -> dict:
    """A mixer.json, checked: inputs, weights, mean and std of equal length.

    Files written before the mixer lost its bias carry a ``"bias"`` entry; it is read and ignored
    (a common shift of every score, which no sampler sees).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: M-FLYT mixer file not found")
    m = json.loads(path.read_text())
    k = len(m.get("inputs", []))
    for key in ("weights", "mean", "std"):
        if len(m.get(key, [])) != k:
            raise fileio.ContractError(f"{path}: {key!r} has {len(m.get(key, []))} entries, expected {k} (one per input)")
    return m


def mixer_mix(path, inputs: Sequence[str]) -> tuple[str, dict]:
    """The (method, params) of :func:`clipcurate.mix.aggregate.mix` that score the pool as a trained mixer.

    The mixer's ``a . z`` is the standardized weighted sum of its inputs. ``inputs`` must be the
    mixer's own.
    """
    mixer = read_mixer(path)
    if mixer["inputs"] != list(inputs):
        raise fileio.ContractError(f"{path}: mixer inputs {mixer['inputs']} differ from the run's {list(inputs)}")
    return "weighted_sum", {"weights": dict(zip(mixer["inputs"], mixer["weights"])), "standardize": True}


def load_head(path) -> GLUHead:
    """Rebuild a trained E-FLYT head from ``head.pt``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: E-FLYT head file not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    head = GLUHead(int(ckpt["d_in"]), hidden_mult=float(ckpt["hidden_mult"]))
    head.load_state_dict(ckpt["state_dict"])
    return head.eval()


@torch.no_grad()
def head_scores(head: GLUHead, image: np.ndarray, text: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """E-FLYT scores of stored (N, d) image and text embeddings, float32 (N,)."""
    if image.shape[1] + text.shape[1] != head.d_in:
        raise fileio.ContractError(
            f"E-FLYT head expects {head.d_in}-d [image, text] features, embeddings give {image.shape[1] + text.shape[1]}"
        )
    out = np.empty(len(image), np.float32)
    for s in range(0, len(image), batch_size):
        x = torch.from_numpy(np.concatenate([image[s : s + batch_size], text[s : s + batch_size]], axis=1).astype(np.float32))
        out[s : s + batch_size] = head(x).numpy()
    return out
