"""Binary classifiers over frozen CLIP embeddings: the DFN paper's classifier backbone (its Table 1)
and FLYT's IN1K / CC2M classifier inputs.

A linear model (one ``torch.nn.Linear``: logistic regression) separates a positive set (the HQ set,
the downstream-train set) from pool samples; its logit is the score. Trained by the ``classifier``
trainer (:mod:`clipcurate.train.trainers.classifier`), read by the ``binary_classifier`` score method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

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


def pool_negatives(paths: Sequence[str], features: str, max_rows: int | None, seed: int) -> np.ndarray:
    """The classifier's negatives: the features of a uniform sample of ``max_rows`` pool rows.

    ``paths`` are the pool's per-chunk embedding files. The sample is drawn without replacement and
    seeded: how many rows each chunk gives is one multivariate hypergeometric draw over the chunks'
    row counts (read from the parquet footers), then each chunk's rows are a uniform choice within it.
    Chunks are read one at a time into a preallocated array, so the peak is the sample plus one
    chunk, never the pool: at 128M rows the whole pool's image + text features (1,024 float32) would
    be 524 GB. Training draws ``steps x batch_size / 2`` negatives with replacement (FLYT B.2 at
    medium: 40K x 128 = 5.1M), so a sample of a few million rows gives it the same distribution;
    ``max_rows: None`` (or a pool smaller than it) takes every row, in pool order.
    """
    import pyarrow.parquet as pq

    from clipcurate.embed.encode import read_embeddings

    if not paths:
        raise ClassifierError("binary classifier: no pool embedding files for the negatives")
    sizes = np.array([pq.ParquetFile(p).metadata.num_rows for p in paths], dtype=np.int64)
    total = int(sizes.sum())
    take_all = max_rows is None or int(max_rows) >= total
    if not take_all and int(max_rows) < 1:
        raise ClassifierError(f"binary classifier: max negatives must be positive, got {max_rows}")
    rng = np.random.default_rng([int(seed), 0x6E6567])
    per_chunk = sizes if take_all else rng.multivariate_hypergeometric(sizes, int(max_rows))
    out = None
    at = 0
    for path, n, k in zip(paths, sizes, per_chunk):
        if k == 0:
            continue
        feats = classifier_features(read_embeddings(path), features)
        if len(feats) != n:
            raise ClassifierError(f"{path}: {len(feats)} embedding rows, its footer says {n}")
        if out is None:
            out = np.empty((int(per_chunk.sum()), feats.shape[1]), np.float32)
        rows = slice(None) if take_all else np.sort(rng.choice(int(n), size=int(k), replace=False))
        out[at:at + int(k)] = feats[rows]
        at += int(k)
    return out


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
