"""FLYT training loop (Algorithm 1) and helpers to apply a trained scorer.

``train_flyt`` drives :func:`clipcurate.train.flyt.meta.flyt_step` over paired upstream /
downstream batch streams with cosine learning-rate schedules (linear warm-up, as in
open_clip's ``cosine_lr``) for both the scorer and — only when it is updated — the
reference model. Everything random (template draws, torch default RNG) is seeded from
``cfg.seed``; CPU runs are deterministic.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from .adamw import BETAS, EPS, WEIGHT_DECAY, weight_decay_param_groups
from .downstream import INIT_DOWNSTREAM_LOG_TAU, sample_downstream_texts, uses_learnable_temperature
from .meta import ReferenceState, flyt_step
from .scorers import LinearMixer
from clipcurate.train.lr_schedule import cosine_lr
from clipcurate.core.progress import progress

__all__ = ["FlytConfig", "cosine_lr", "train_flyt", "score_pool", "mixer_weights_table"]


@dataclass
class FlytConfig:
    """Hyper-parameters of a FLYT run (defaults: paper Table 7 / C.1)."""

    steps: int = 1000
    reference_lr: float = 5e-5
    scorer_lr: float = 1e-3
    warmup: int = 100  # scale down for tiny runs
    weight_decay: float = WEIGHT_DECAY
    betas: tuple[float, float] = BETAS
    eps: float = EPS
    downstream_loss: str = "ce"  # "ce" | "ce_temperature" | "clip"
    classnames: Sequence[str] = ()
    templates: Sequence[Any] = ("a photo of a {c}.",)
    tokenizer: Callable[[list[str]], torch.Tensor] | None = None
    update_reference: bool = True
    seed: int = 0
    jvp_mode: str = "jvp"  # "jvp" | "double_backward"
    init_log_tau: float = INIT_DOWNSTREAM_LOG_TAU
    log_every: int = 1


def train_flyt(
    reference_model: torch.nn.Module,
    scorer: torch.nn.Module,
    upstream_batches: Iterable[dict],
    downstream_batches: Iterable[dict],
    cfg: FlytConfig,
    log: Callable[[str], Any] | None = print,
):
    """Train ``scorer`` with FLYT; returns ``(scorer, history)``.

    ``upstream_batches`` yields {"images" (B,3,H,W), "texts" (B,ctx) tokens, "features" (B,k)};
    ``downstream_batches`` yields {"images" (B',3,H,W), "labels" (B',)}. Runs ``cfg.steps`` steps
    (fewer if a stream ends). With ``cfg.update_reference`` the reference model's parameters
    are updated in place at the end (theta <- theta' every step). ``history`` is a list of
    per-step dicts: upstream_loss (L_w), downstream_loss (l_DS at theta'), weight_entropy,
    weight_max, reference_lr, scorer_lr, seconds, samples_per_s, skipped, log_tau, logit_scale.
    """
    if cfg.tokenizer is None:
        raise ValueError("cfg.tokenizer is required (downstream texts are tokenised every step)")
    if not cfg.classnames:
        raise ValueError("cfg.classnames is empty")
    torch.manual_seed(cfg.seed)
    text_gen = torch.Generator().manual_seed(cfg.seed)

    reference_model.train()
    scorer.train()
    reference = ReferenceState.from_model(
        reference_model, learnable_temperature=uses_learnable_temperature(cfg.downstream_loss),
        init_log_tau=cfg.init_log_tau,
    )
    scorer_opt = torch.optim.AdamW(
        weight_decay_param_groups(scorer.named_parameters(), cfg.weight_decay),
        lr=cfg.scorer_lr, betas=tuple(cfg.betas), eps=cfg.eps,
    )

    history: list[dict] = []
    up_it, down_it = iter(upstream_batches), iter(downstream_batches)
    for step in progress(range(cfg.steps), desc="FLYT", unit="steps"):
        try:
            up = next(up_it)
            down = next(down_it)
        except StopIteration:
            if log:
                log(f"[flyt] data exhausted after {step} steps")
            break
        t0 = time.perf_counter()
        scorer_lr = cosine_lr(step, cfg.scorer_lr, cfg.warmup, cfg.steps)
        for group in scorer_opt.param_groups:
            group["lr"] = scorer_lr
        # the reference LR is scheduled only when the reference model is updated
        ref_lr = cosine_lr(step, cfg.reference_lr, cfg.warmup, cfg.steps) if cfg.update_reference else cfg.reference_lr

        texts = sample_downstream_texts(
            cfg.downstream_loss, down["labels"], cfg.classnames, cfg.templates, cfg.tokenizer, text_gen
        )
        out = flyt_step(
            reference_model, reference, scorer, scorer_opt, up,
            {"images": down["images"], "labels": down["labels"], "texts": texts},
            downstream_kind=cfg.downstream_loss, reference_lr=ref_lr, betas=tuple(cfg.betas), eps=cfg.eps,
            weight_decay=cfg.weight_decay, update_reference=cfg.update_reference, jvp_mode=cfg.jvp_mode,
        )
        reference = out.reference
        dt = time.perf_counter() - t0
        batch = int(up["images"].shape[0])
        rec = {
            "step": step,
            "upstream_loss": out.upstream_loss,
            "downstream_loss": out.downstream_loss,
            "weight_entropy": out.weight_entropy,
            "weight_max": out.weight_max,
            "reference_lr": ref_lr,
            "scorer_lr": scorer_lr,
            "seconds": dt,
            "samples_per_s": batch / dt if dt > 0 else float("inf"),
            "skipped": out.skipped,
            "log_tau": out.log_tau,
            "logit_scale": out.logit_scale,
        }
        if isinstance(scorer, LinearMixer):  # the mixer's weight per input after this step (report curves)
            rec["mixer_weights"] = [float(w) for w in scorer.a.detach().cpu().reshape(-1)]
        history.append(rec)
        if log and (step % max(1, cfg.log_every) == 0 or step == cfg.steps - 1):
            log(
                f"[flyt] step {step} L_up {rec['upstream_loss']:.4f} L_down {rec['downstream_loss']:.4f} "
                f"H(w) {rec['weight_entropy']:.3f}/{math.log(batch):.3f} lr {ref_lr:.2e}/{scorer_lr:.2e} "
                f"{rec['samples_per_s']:.1f} samples/s" + (f" SKIPPED ({out.reason})" if out.skipped else "")
            )
    if cfg.update_reference:
        reference.load_into(reference_model)
    return scorer, history


@torch.no_grad()
def score_pool(scorer: torch.nn.Module, features_iter: Iterable) -> np.ndarray:
    """Score every pool example in order: concatenates ``scorer(features)`` over the iterable.

    Items may be tensors/arrays (B, k) or dicts with a ``"features"`` entry. Returns float64 (N,).
    """
    was_training = scorer.training
    scorer.eval()
    out = []
    try:
        for item in features_iter:
            feats = item["features"] if isinstance(item, dict) else item
            feats = torch.as_tensor(np.asarray(feats) if not torch.is_tensor(feats) else feats)
            out.append(scorer(feats).reshape(-1).double().cpu().numpy())
    finally:
        scorer.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)


def mixer_weights_table(mixer: LinearMixer, input_names: Sequence[str]) -> list[tuple[str, float]]:
    """The learned M-FLYT weights ``a`` per (standardised) input score, in input order (Table 2 left).

    There is no bias to report: the softmax over the batch is shift invariant, so the mixer has
    none (see :mod:`clipcurate.train.flyt.scorers`).
    """
    return mixer.weights_table(input_names)
