"""FLYT scoring models q_phi.

* :class:`LinearMixer` (M-FLYT, §3.4): ``score = a . z`` over k standardised input
  scores (standardisation statistics are stored as buffers, so raw scores can be fed).
* :class:`GLUHead` (E-FLYT): ``score = W2( SiLU(W1 x + c1) * (W3 x + c3) )`` over the
  concatenated, frozen, L2-normalised CLIP image and text embeddings ``x = [img, txt]``.

No output bias. FLYT only ever uses a scorer through ``softmax(q_phi(batch))`` over the upstream
batch, which is invariant to adding a constant to every score; so the gradient of the final
layer's bias (the paper's ``b`` in ``a . z + b``, and ``W2``'s bias) is identically zero, and the
bias has no effect on any sampler (threshold, SCS, HCS and the standardised mixes all ignore a
common shift). A parameter with an identically zero gradient must not be trained: AdamW divides
its round-off-sized gradient by its own root mean square and turns it into steps the size of the
learning rate, a random walk with no mathematical content. The scorers therefore have no such
parameter. State dicts saved with an output bias (older mixers and heads) still load: the bias is
dropped, which shifts every score by the same constant.

Weight decay (applied by the scorer's ``torch.optim.AdamW``, see
:func:`clipcurate.train.flyt.adamw.weight_decay_param_groups`): 0.2 on weight matrices (the
mixer's ``a``), none on biases.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["LinearMixer", "GLUHead", "embedding_features", "standardization_stats"]


def _drop_output_bias(state_dict: dict, key: str) -> None:
    """Remove a saved output bias (shift-invariant, see the module docstring) before loading."""
    state_dict.pop(key, None)


def standardization_stats(features: torch.Tensor, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and std (population) of a (N, k) feature matrix; std floored at ``eps``."""
    features = torch.as_tensor(features, dtype=torch.float64)
    mean = features.mean(0)
    std = features.std(0, unbiased=False).clamp_min(eps)
    return mean.float(), std.float()


class LinearMixer(nn.Module):
    """M-FLYT mixer: ``score = a . standardise(z)`` (``nn.Linear(k, 1, bias=False)``), output (B,).

    ``mean``/``std`` (buffers, default 0/1) standardise the raw input scores:
    ``standardise(z) = (z - mean) / std``. ``zero_init=True`` starts from uniform weights.
    The paper's bias ``b`` is left out: it never receives a gradient (module docstring).
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
        self.linear = nn.Linear(self.k, 1, bias=False)
        if zero_init:
            nn.init.zeros_(self.linear.weight)
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

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        _drop_output_bias(state_dict, prefix + "linear.bias")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def weights_table(self, input_names: Sequence[str]) -> list[tuple[str, float]]:
        if len(input_names) != self.k:
            raise ValueError(f"expected {self.k} input names, got {len(input_names)}")
        return [(str(n), float(w)) for n, w in zip(input_names, self.a.detach().cpu().tolist())]


class GLUHead(nn.Module):
    """E-FLYT head: ``score = W2( SiLU(W1 x + c1) * (W3 x + c3) )``; hidden = round(d_in * hidden_mult).

    ``W1`` and ``W3`` have biases (they pass through the gate and do get gradients); ``W2`` has
    none, since a bias on the score is invisible to the batch softmax (module docstring).
    """

    def __init__(self, d_in: int, hidden_mult: float = 1.0):
        super().__init__()
        hidden = max(1, int(round(d_in * hidden_mult)))
        self.d_in, self.hidden = int(d_in), hidden
        self.w1 = nn.Linear(d_in, hidden)
        self.w3 = nn.Linear(d_in, hidden)
        self.w2 = nn.Linear(hidden, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.w1.weight.dtype)
        return self.w2(F.silu(self.w1(x)) * self.w3(x)).squeeze(-1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        _drop_output_bias(state_dict, prefix + "w2.bias")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


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
