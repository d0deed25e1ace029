"""Downstream losses l_DS of FLYT (Appendix C.8).

Three variants, all evaluated with the *updated* reference parameters theta'
(both towers in the graph, so the meta-gradient flows through the text tower too):

``"ce"``
    Zero-shot cross entropy. Every step each class gets ONE template drawn at
    random (independently per class); the class text features are computed with
    theta'; ``logits = tau_DS * img @ txt.T`` with ``tau_DS = 1`` fixed ("Using the
    standard CE loss, tau_DS is set to 1", C.8).
``"ce_temperature"``
    The same with ``tau_DS = exp(lambda)``, ``lambda`` a separate learnable scalar
    initialised to ``ln(1/0.07)`` and trained alongside theta by the reference
    optimizer (see :mod:`clipcurate.train.flyt.meta`).
``"clip"``
    The standard (symmetric) CLIP loss on downstream image-caption pairs, where the
    caption of an example is a random template filled with its class name (drawn
    independently per example), with the same learnable ``tau_DS = exp(lambda)``.

Reductions are means over the downstream batch (the paper writes sums; the
constant factor B' is absorbed by the scorer learning rate).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch.func import functional_call

__all__ = [
    "DOWNSTREAM_LOSSES",
    "INIT_DOWNSTREAM_LOG_TAU",
    "uses_learnable_temperature",
    "fill_template",
    "sample_downstream_texts",
    "downstream_loss",
    "clip_forward",
    "model_downstream_loss",
]

DOWNSTREAM_LOSSES = ("ce", "ce_temperature", "clip")
INIT_DOWNSTREAM_LOG_TAU = math.log(1.0 / 0.07)  # 2.65926


def uses_learnable_temperature(kind: str) -> bool:
    _check_kind(kind)
    return kind in ("ce_temperature", "clip")


def _check_kind(kind: str) -> None:
    if kind not in DOWNSTREAM_LOSSES:
        raise ValueError(f"unknown downstream loss {kind!r}; expected one of {DOWNSTREAM_LOSSES}")


def fill_template(template: str | Callable[[str], str], classname: str) -> str:
    """``template.format(c=classname)`` (CLIP-benchmark / DataComp style ``{c}``) or ``template(classname)``."""
    if callable(template):
        return template(classname)
    return template.format(c=classname)


def sample_downstream_texts(
    kind: str,
    labels: torch.Tensor,
    classnames: Sequence[str],
    templates: Sequence[str | Callable[[str], str]],
    tokenizer: Callable[[list[str]], torch.Tensor],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Tokenised texts for one step.

    ``"ce"``/``"ce_temperature"``: (C, ctx), one random template per class (row c = class c).
    ``"clip"``: (B', ctx), one random template per downstream example, filled with its label.
    """
    _check_kind(kind)
    if kind == "clip":
        idx = torch.randint(len(templates), (len(labels),), generator=generator).tolist()
        strings = [fill_template(templates[i], classnames[int(y)]) for i, y in zip(idx, labels.tolist())]
    else:
        idx = torch.randint(len(templates), (len(classnames),), generator=generator).tolist()
        strings = [fill_template(templates[i], c) for i, c in zip(idx, classnames)]
    return tokenizer(strings)


def downstream_loss(
    kind: str,
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    labels: torch.Tensor,
    log_tau: torch.Tensor | None = None,
) -> torch.Tensor:
    """l_DS from L2-normalised features (mean reduction).

    ``image_features`` (B', d); ``text_features`` (C, d) class embeddings for the CE
    variants or (B', d) caption embeddings for ``"clip"``; ``log_tau`` is lambda
    (required for ``"ce_temperature"``/``"clip"``, ignored for ``"ce"`` where tau = 1).
    """
    _check_kind(kind)
    if kind == "ce":
        tau = 1.0
    else:
        if log_tau is None:
            raise ValueError(f"downstream loss {kind!r} needs the learnable log-temperature log_tau")
        tau = torch.exp(log_tau)
    logits = tau * image_features @ text_features.T
    if kind == "clip":
        target = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    return F.cross_entropy(logits, labels)


def clip_forward(
    model: torch.nn.Module,
    params: Mapping[str, torch.Tensor] | None,
    images: torch.Tensor | None,
    texts: torch.Tensor | None,
):
    """``(image_features, text_features, logit_scale)`` of a stock open_clip CLIP (normalised features).

    With ``params`` the forward is ``torch.func.functional_call`` over those tensors
    (names as in ``model.named_parameters()``; parameters not given are the module's own).
    """
    out = model(images, texts) if params is None else functional_call(model, dict(params), (images, texts))
    if isinstance(out, dict):
        return out.get("image_features"), out.get("text_features"), out.get("logit_scale")
    return out[0], out[1], out[2]


def model_downstream_loss(
    kind: str,
    model: torch.nn.Module,
    params: Mapping[str, torch.Tensor] | None,
    images: torch.Tensor,
    texts: torch.Tensor,
    labels: torch.Tensor,
    log_tau: torch.Tensor | None = None,
) -> torch.Tensor:
    """l_DS(f_params(images, texts)) for the given (pre-sampled, tokenised) downstream texts."""
    img, txt, _ = clip_forward(model, params, images, texts)
    return downstream_loss(kind, img, txt, labels, log_tau)
