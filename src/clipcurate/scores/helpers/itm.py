"""Image-text matching (ITM): the probability that an image and a caption belong together, the
cross-modality filter the "Devil is in the Details" paper uses beside the flipped CLIP score.

Two backends behind one interface (:func:`itm_probability` of a loaded scorer, higher = a better
match, in [0, 1]):

* **BLIP** (real scale): BLIP's ITM head through ``transformers``
  (``BlipForImageTextRetrieval.from_pretrained(<local folder>)`` with its ``BlipProcessor``), the
  probability ``softmax(itm_score)[:, 1]`` as in BLIP's own ``itm`` scoring (Salesforce/BLIP
  ``models/blip_itm.py``: ``itm_output[:, 1]`` after a softmax). The model folder is named in config
  (e.g. ``Salesforce/blip-itm-base-coco`` saved locally); :func:`load_blip_itm`,
  :func:`blip_itm_probability`.
* **A matching head** (the tiny world, where no published ITM model knows the world's concepts): a
  small MLP over a frozen reference CLIP's image and text embeddings, ``[i, t, i*t, |i-t|] -> 2
  logits``, trained by the workflow (trainer ``itm``, :func:`train_itm_head`) as BLIP trains its ITM
  head: the matched pairs of a clean set (the world's HQ set) as positives and, per batch, **hard
  negatives** mined as BLIP mines them (``blip_pretrain.py``): for each image one in-batch
  mismatched caption drawn with probability ``softmax(sim / temperature)`` over the frozen CLIP
  similarities, and for each caption one mismatched image likewise. ``temperature`` 0 takes the most
  similar one (the deterministic limit); trained on those alone the head learns "similar but not the
  same" and rates easy mismatches above matches (measured: held-out AUC against random captions
  0.01), so the default samples, with BLIP's initial temperature 0.07. A candidate whose caption (or
  image) is the same as the positive's (cosine > ``same_threshold``) is no negative: the world
  repeats captions across images. Cross-entropy over 2 classes, as BLIP's ``loss_itm``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from clipcurate.core import fileio


class ItmError(ValueError):
    pass


# ---- the matching head (tiny world) -----------------------------------------------------------


def head_features(image, text):
    """``[i, t, i*t, |i-t|]`` of row-aligned image and text embeddings (torch or numpy)."""
    try:
        import torch

        if isinstance(image, torch.Tensor):
            return torch.cat([image, text, image * text, (image - text).abs()], dim=1)
    except ImportError:  # pragma: no cover
        pass
    return np.concatenate([image, text, image * text, np.abs(image - text)], axis=1)


def build_head(dim: int, hidden: int):
    """The matching head: Linear(4d, hidden) - GELU - Linear(hidden, 2)."""
    import torch

    return torch.nn.Sequential(torch.nn.Linear(4 * dim, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 2))


def hard_negatives(image: np.ndarray, text: np.ndarray, same_threshold: float = 0.99, temperature: float = 0.0,
                   rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """In-batch hard negatives by the frozen embeddings' cosine similarity.

    Returns ``(text_for_image, image_for_text)``: for row ``i`` the index ``j != i`` of a caption for
    image ``i`` and of an image for caption ``i``, among candidates that are not a copy of row ``i``'s
    own caption (resp. image): ``text[j] @ text[i] <= same_threshold``. With ``temperature`` 0 the
    most similar candidate (``image[i] @ text[j]`` largest); otherwise one drawn with probability
    ``softmax(sim / temperature)`` over the candidates (BLIP), from ``rng``. No candidate: -1.
    """
    image = np.asarray(image, np.float32)
    text = np.asarray(text, np.float32)
    n = len(image)
    sim = (image @ text.T).astype(np.float64)
    same_t = (text @ text.T) > same_threshold
    same_i = (image @ image.T) > same_threshold
    np.fill_diagonal(same_t, True)
    np.fill_diagonal(same_i, True)
    out = []
    for s in (np.where(same_t, -np.inf, sim), np.where(same_i, -np.inf, sim.T)):  # image i vs caption j; caption i vs image j
        has = np.isfinite(s).any(1) if n else np.zeros(0, bool)
        if temperature <= 0:
            pick = s.argmax(1) if n else np.zeros(0, int)
        else:
            if rng is None:
                raise ItmError("hard_negatives: sampling (temperature > 0) needs an rng")
            z = np.where(has[:, None], s / temperature, 0.0)
            z = z - z.max(1, keepdims=True)
            w = np.exp(z)
            w = w / w.sum(1, keepdims=True)
            pick = (w.cumsum(1) < rng.random((n, 1))).sum(1).clip(0, n - 1)
        out.append(np.where(has, pick, -1).astype(np.int64))
    return out[0], out[1]


def itm_batch(image: np.ndarray, text: np.ndarray, same_threshold: float = 0.99, temperature: float = 0.0,
              rng: np.random.Generator | None = None):
    """One training batch as BLIP forms it: the ``n`` matched pairs (label 1), each image with its
    hard-negative caption and each caption with its hard-negative image (label 0).
    Returns ``(image_rows, text_rows, labels)`` as index arrays into the batch."""
    n = len(image)
    t_for_i, i_for_t = hard_negatives(image, text, same_threshold, temperature, rng)
    rows = np.arange(n)
    a, b = t_for_i >= 0, i_for_t >= 0
    img = np.concatenate([rows, rows[a], i_for_t[b]])
    txt = np.concatenate([rows, t_for_i[a], rows[b]])
    lab = np.concatenate([np.ones(n, np.int64), np.zeros(int(a.sum()) + int(b.sum()), np.int64)])
    return img, txt, lab


def split_heldout(n: int, heldout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``n`` pairs into (train rows, held-out rows)."""
    order = np.random.default_rng(seed).permutation(n)
    k = int(math.floor(n * heldout))
    return np.sort(order[k:]), np.sort(order[:k])


def train_itm_head(image: np.ndarray, text: np.ndarray, *, hidden: int, steps: int, batch_size: int, lr: float,
                   warmup: int, wd: float = 0.0, same_threshold: float = 0.99, temperature: float = 0.07,
                   seed: int = 0, log=None) -> dict:
    """Train the matching head on matched pairs (row ``i`` of ``image`` with row ``i`` of ``text``)
    with in-batch hard negatives (:func:`itm_batch`); AdamW, linear warmup then cosine decay.
    Returns ``{"state": state_dict, "dim", "hidden", "final_loss", "train_accuracy"}``."""
    import torch

    from clipcurate.train.lr_schedule import cosine_lr

    image = np.ascontiguousarray(image, np.float32)
    text = np.ascontiguousarray(text, np.float32)
    if image.shape != text.shape or image.ndim != 2:
        raise ItmError(f"itm head: image {image.shape} and text {text.shape} embeddings must be row-aligned [n, d]")
    if len(image) < 2:
        raise ItmError(f"itm head: needs at least 2 matched pairs to form negatives, got {len(image)}")
    torch.manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    head = build_head(image.shape[1], int(hidden))
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=wd)
    bs = min(int(batch_size), len(image))
    loss = torch.zeros(())
    acc = []
    for step in range(int(steps)):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, lr, warmup, steps)
        rows = rng.choice(len(image), size=bs, replace=False)
        bi, bt = image[rows], text[rows]
        ii, tt, lab = itm_batch(bi, bt, same_threshold, temperature, rng)
        x = head_features(torch.from_numpy(bi[ii]), torch.from_numpy(bt[tt]))
        y = torch.from_numpy(lab)
        logits = head(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc.append(float((logits.argmax(1) == y).float().mean()))
        if log is not None and (step % 200 == 0 or step == steps - 1):
            log.info("itm step %d/%d: loss %.4f, batch accuracy %.3f", step + 1, steps, float(loss), acc[-1])
    return {"state": {k: v.detach().clone() for k, v in head.state_dict().items()}, "dim": int(image.shape[1]),
            "hidden": int(hidden), "final_loss": float(loss.detach()),
            "train_accuracy": float(np.mean(acc[-20:])) if acc else None}


def save_head(path, trained: Mapping, info: Mapping) -> None:
    """Write the head as a torch file (state, dims, training info), atomically."""
    import torch

    with fileio.atomic_path(path, suffix=".pt") as tmp:
        torch.save({"state": trained["state"], "dim": trained["dim"], "hidden": trained["hidden"], "info": dict(info)}, tmp)


def load_head(path):
    """The matching head saved by :func:`save_head`, in eval mode."""
    import torch

    if not Path(path).exists():
        raise ItmError(f"{path}: ITM head not found")
    blob = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("state", "dim", "hidden"):
        if key not in blob:
            raise ItmError(f"{path}: not an ITM head (no {key!r}; it has {sorted(blob)})")
    head = build_head(int(blob["dim"]), int(blob["hidden"]))
    head.load_state_dict(blob["state"])
    return head.eval()


def head_probability(head, image: np.ndarray, text: np.ndarray, batch_size: int = 65536) -> np.ndarray:
    """ITM probability ``softmax(head([i, t, i*t, |i-t|]))[:, 1]`` per row, float32."""
    import torch

    image = np.ascontiguousarray(image, np.float32)
    text = np.ascontiguousarray(text, np.float32)
    dim = head[0].in_features // 4
    if image.shape[1:] != (dim,) or text.shape != image.shape:
        raise ItmError(f"ITM head takes {dim}-d image and text embeddings, got {image.shape} and {text.shape} "
                       "(the score's model must be the head's embedding model)")
    out = np.empty(len(image), np.float32)
    with torch.no_grad():
        for lo in range(0, len(image), batch_size):
            x = head_features(torch.from_numpy(image[lo:lo + batch_size]), torch.from_numpy(text[lo:lo + batch_size]))
            out[lo:lo + batch_size] = torch.softmax(head(x), dim=1)[:, 1].numpy()
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of scores: P(pos > neg) + 0.5 P(tie) (Mann-Whitney, by ranks)."""
    from scipy.stats import rankdata

    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def heldout_auc(head, image: np.ndarray, text: np.ndarray, seed: int = 0) -> dict:
    """AUC of the head on held-out pairs: each matched pair against the same image with a random
    mismatched caption and against the image's hard-negative caption (:func:`hard_negatives`)."""
    n = len(image)
    rng = np.random.default_rng(seed)
    shift = rng.integers(1, n, size=n)
    pos = head_probability(head, image, text)
    rand = head_probability(head, image, text[(np.arange(n) + shift) % n])
    t_for_i, _ = hard_negatives(image, text)
    ok = t_for_i >= 0
    hard = head_probability(head, image[ok], text[t_for_i[ok]])
    return {"pairs": int(n), "auc_random": auc(pos, rand), "auc_hard": auc(pos, hard)}


# ---- BLIP (real scale) -------------------------------------------------------------------------


def load_blip_itm(path, device: str = "cpu"):
    """``(model, processor)``: BLIP's ITM model and processor from a local folder (``from_pretrained``;
    a published checkpoint saved with ``save_pretrained``, e.g. Salesforce/blip-itm-base-coco)."""
    from transformers import BlipForImageTextRetrieval, BlipProcessor

    p = Path(path)
    if not (p / "config.json").exists():
        raise ItmError(f"{p}: no BLIP ITM model folder (expected config.json and the weights, as save_pretrained writes)")
    model = BlipForImageTextRetrieval.from_pretrained(str(p)).to(device).eval()
    processor = BlipProcessor.from_pretrained(str(p))
    return model, processor


def blip_itm_probability(model, processor, images: Sequence, texts: Sequence[str], batch_size: int = 64,
                         max_length: int = 35) -> np.ndarray:
    """ITM probability ``softmax(itm_score)[:, 1]`` of each (PIL image, caption) pair, float32.
    Captions are truncated to ``max_length`` tokens (BLIP's ITM uses 35)."""
    import torch

    if len(images) != len(texts):
        raise ItmError(f"BLIP ITM: {len(images)} images but {len(texts)} captions")
    device = next(model.parameters()).device
    out = np.empty(len(images), np.float32)
    with torch.no_grad():
        for lo in range(0, len(images), batch_size):
            enc = processor(images=list(images[lo:lo + batch_size]), text=[str(t) for t in texts[lo:lo + batch_size]],
                            return_tensors="pt", padding="max_length", truncation=True, max_length=max_length)
            enc = {k: v.to(device) for k, v in enc.items()}
            logits = model(**enc, use_itm_head=True).itm_score
            out[lo:lo + batch_size] = torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()
    return out
