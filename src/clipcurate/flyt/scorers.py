"""FLYT scoring models q_phi.

* :class:`LinearMixer` (M-FLYT, §3.4): ``score = a . z + b`` over k standardised input
  scores (standardisation statistics are stored as buffers, so raw scores can be fed).
* :class:`GLUHead` (E-FLYT): ``score = W2( SiLU(W1 x) * (W3 x) )`` over the concatenated,
  frozen, L2-normalised CLIP image and text embeddings ``x = [img, txt]``.

Weight decay (applied by the scorer's ``torch.optim.AdamW``, see
:func:`clipcurate.flyt.adamw.weight_decay_param_groups`): 0.2 on weight matrices (the
mixer's ``a``), none on biases.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LinearMixer", "GLUHead", "embedding_features", "standardization_stats"]


def standardization_stats(features: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std (population) of a (N, k) feature matrix; std floored at ``eps``."""
    features = torch.as_tensor(features, dtype=torch.float64)
    mean = features.mean(0)
    std = features.std(0, unbiased=False).clamp_min(eps)
    return mean.float(), std.float()


class LinearMixer(nn.Module):
    """M-FLYT mixer: ``score = a . standardise(z) + b`` (``nn.Linear(k, 1)``), output (B,).

    ``mean``/``std`` (buffers, default 0/1) standardise the raw input scores:
    ``standardise(z) = (z - mean) / std``. ``zero_init=True`` starts from uniform weights.
    """

    def __init__(
        self,
        k: int,
        mean: torch.Tensor | Sequence[float] | None = None,
        std: torch.Tensor | Sequence[float] | None = None,
        zero_init: bool = False,
    ):
        super().__init__()
        self.k = int(k)
        self.linear = nn.Linear(self.k, 1)
        if zero_init:
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)
        self.register_buffer("input_mean", torch.zeros(self.k) if mean is None else torch.as_tensor(mean, dtype=torch.float32).reshape(self.k).clone())
        self.register_buffer("input_std", torch.ones(self.k) if std is None else torch.as_tensor(std, dtype=torch.float32).reshape(self.k).clone())

    def fit_standardization(self, features: torch.Tensor) -> "LinearMixer":
        mean, std = standardization_stats(features)
        self.input_mean.copy_(mean)
        self.input_std.copy_(std)
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = (z.to(self.linear.weight.dtype) - self.input_mean.to(self.linear.weight.dtype)) / self.input_std.to(
            self.linear.weight.dtype
        )
        return self.linear(z).squeeze(-1)

    @property
    def a(self) -> torch.Tensor:
        return self.linear.weight.reshape(-1)

    @property
    def b(self) -> torch.Tensor:
        return self.linear.bias.reshape(())

    def weights_table(self, input_names: Sequence[str]) -> list[tuple[str, float]]:
        if len(input_names) != self.k:
            raise ValueError(f"expected {self.k} input names, got {len(input_names)}")
        return [(str(n), float(w)) for n, w in zip(input_names, self.a.detach().cpu().tolist())]


class GLUHead(nn.Module):
    """E-FLYT head: ``score = W2( SiLU(W1 x) * (W3 x) )`` with biases; hidden = round(d_in * hidden_mult)."""

    def __init__(self, d_in: int, hidden_mult: float = 1.0):
        super().__init__()
        hidden = max(1, int(round(d_in * hidden_mult)))
        self.d_in, self.hidden = int(d_in), hidden
        self.w1 = nn.Linear(d_in, hidden)
        self.w3 = nn.Linear(d_in, hidden)
        self.w2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.w1.weight.dtype)
        return self.w2(F.silu(self.w1(x)) * self.w3(x)).squeeze(-1)


@torch.no_grad()
def embedding_features(model: nn.Module, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
    """E-FLYT scorer input: ``[img, txt]``, the frozen CLIP model's L2-normalised embeddings, (B, 2d)."""
    was_training = model.training
    model.eval()
    try:
        img = model.encode_image(images, normalize=True)
        txt = model.encode_text(texts, normalize=True)
    finally:
        model.train(was_training)
    return torch.cat([img, txt], dim=-1)
