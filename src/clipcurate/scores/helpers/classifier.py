"""Binary classifiers over frozen CLIP embeddings: the DFN paper's classifier backbone (its Table 1)
and FLYT's IN1K / CC2M classifier inputs.

A linear model (one ``torch.nn.Linear``: logistic regression) separates a positive set (the HQ set,
the downstream-train set) from pool samples; its logit is the score. Trained by the ``classifier``
trainer (:mod:`clipcurate.train.trainers.classifier`), read by the ``binary_classifier`` score method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from clipcurate.core import fileio
from clipcurate.train.lr_schedule import cosine_lr


class ClassifierError(ValueError):
    pass


def classifier_features(emb: Mapping[str, np.ndarray], features: str) -> np.ndarray:
    """The classifier's input: ``image``, ``text`` or ``image_text`` (the two concatenated)."""
    if features == "image_text":
        return np.concatenate([emb["image"], emb["text"]], axis=1).astype(np.float32)
    if features in ("image", "text"):
        return np.asarray(emb[features], dtype=np.float32)
    raise ClassifierError(f"classifier features: expected image, text or image_text, got {features!r}")


def train_binary_classifier(
    pos: np.ndarray,
    neg: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup: int,
    wd: float = 0.0,
    seed: int = 0,
) -> dict:
    """Logistic regression (one ``torch.nn.Linear``) separating ``pos`` rows from ``neg`` rows.

    AdamW with linear warmup and cosine decay (FLYT B.2 trains its classifiers so: batch 256,
    max lr 0.01, 500 warmup steps). Each batch draws half positives and half negatives, so an
    unbalanced pair of sets (a small HQ set against a large pool) still trains a calibrated
    boundary. Returns ``{"weight": float32[d], "bias": float, "train_accuracy": ...}``.
    """
    import torch

    if len(pos) == 0 or len(neg) == 0:
        raise ClassifierError(f"binary classifier: needs positives and negatives, got {len(pos)} and {len(neg)}")
    if pos.shape[1] != neg.shape[1]:
        raise ClassifierError(f"binary classifier: positive dim {pos.shape[1]} != negative dim {neg.shape[1]}")
    g = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    P, N = torch.from_numpy(np.ascontiguousarray(pos, np.float32)), torch.from_numpy(np.ascontiguousarray(neg, np.float32))
    lin = torch.nn.Linear(P.shape[1], 1)
    opt = torch.optim.AdamW(lin.parameters(), lr=lr, weight_decay=wd)

    half = max(1, batch_size // 2)
    y = torch.cat([torch.ones(half), torch.zeros(half)])
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr, warmup, steps)
        x = torch.cat([P[torch.randint(len(P), (half,), generator=g)], N[torch.randint(len(N), (half,), generator=g)]])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(lin(x).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc_pos = float((lin(P).squeeze(1) > 0).float().mean())
        acc_neg = float((lin(N).squeeze(1) <= 0).float().mean())
    return {
        "weight": lin.weight.detach().squeeze(0).numpy().astype(np.float32),
        "bias": float(lin.bias.detach()),
        "train_accuracy": {"positive": acc_pos, "negative": acc_neg, "balanced": (acc_pos + acc_neg) / 2},
        "final_loss": float(loss.detach()),
    }


def save_classifier(path, clf: Mapping, features: str, info: Mapping) -> None:
    """Write the classifier as a torch file: weight, bias, feature kind and training info."""
    import torch

    with fileio.atomic_path(path, suffix=".pt") as tmp:
        torch.save({"weight": torch.from_numpy(np.asarray(clf["weight"])), "bias": float(clf["bias"]),
                    "features": features, "info": dict(info)}, tmp)


def load_classifier(path) -> dict:
    import torch

    if not Path(path).exists():
        raise fileio.ContractError(f"{path}: classifier file not found")
    state = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("weight", "bias", "features"):
        if key not in state:
            raise fileio.ContractError(f"{path}: not a classifier file (no {key!r})")
    return state


def classifier_logits(path, emb: Mapping[str, np.ndarray]) -> np.ndarray:
    """The classifier's logit per row of ``emb`` (higher = more like the positive set)."""
    state = load_classifier(path)
    x = classifier_features(emb, state["features"])
    w = state["weight"].numpy().astype(np.float32)
    if x.shape[1] != w.shape[0]:
        raise fileio.ContractError(f"{path}: classifier expects {w.shape[0]} features, the embeddings give {x.shape[1]}")
    return (x @ w + np.float32(state["bias"])).astype(np.float32)


def binary_classifier_score(params: Mapping, emb: Mapping[str, np.ndarray], classifier: str) -> dict[str, np.ndarray]:
    """The score method of the classifier backbone: the trained classifier's logit per row.

    Called as the method contract does, ``func(params, **inputs)``, with ``emb`` the rows' embeddings by
    the classifier's model and ``classifier`` the path of the file the ``train_classifier`` rule wrote.
    """
    return {"score": classifier_logits(classifier, emb)}
