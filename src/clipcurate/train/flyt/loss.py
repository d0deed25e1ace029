"""Weighted CLIP loss of FLYT (§3.3 of "Filter Like You Test").

For L2-normalised image features ``u`` and text features ``v`` of a batch of B
pairs, logits ``L = s * u @ v.T`` (``s`` is the logit-scale multiplier, i.e.
``exp(param)`` as returned by open_clip's forward) and per-example weights
``w`` (``w_i >= 0``; FLYT uses ``w = softmax(scores)``)::

    l_contrast^w(u, v, w) = sum_i -w_i log( w_i e^{L_ii} / sum_j w_j e^{L_ij} )
    l_WCL = ( l_contrast^w(u, v, w) + l_contrast^w(v, u, w) ) / 2

It is evaluated in the numerically stable log-sum-exp form::

    l_WCL = -1/2 sum_i w_i [ 2 log w_i + 2 L_ii
                             - LSE_j(L_ij + log w_j) - LSE_j(L_ji + log w_j) ]

Notes
-----
* The reduction is a *sum over i* weighted by ``w`` (no extra 1/B).  With
  uniform weights ``w_i = 1/B`` this is exactly open_clip's ``ClipLoss`` (mean
  cross entropy in both directions).
* The ``log w_i`` term in the numerator does not cancel: the weight of an
  example also multiplies its own positive logit.
* An example with ``w_k = 0`` (``log_w[k] = -inf``) drops out exactly: the loss
  equals the weighted loss of the batch without it.
* Weights are *not* renormalised here; pass ``log_softmax(scores)`` for the FLYT
  objective.
"""

from __future__ import annotations

import torch

__all__ = ["weighted_clip_loss", "weight_entropy"]


def weighted_clip_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    logit_scale: torch.Tensor | float,
    log_w: torch.Tensor,
) -> torch.Tensor:
    """Weighted CLIP loss ``l_WCL`` (scalar), stable form.

    Args:
        image_features: (B, d) L2-normalised image embeddings.
        text_features: (B, d) L2-normalised text embeddings.
        logit_scale: the multiplier ``s`` (already exponentiated), scalar tensor or float.
        log_w: (B,) log-weights, typically ``log_softmax(scores)``; ``-inf`` means weight 0.
    """
    log_w = log_w.reshape(-1)
    logits = logit_scale * image_features @ text_features.T  # L_ij, (B, B)
    diag = torch.diagonal(logits)
    # LSE_j (L_ij + log w_j) and LSE_j (L_ji + log w_j)
    lse_img = torch.logsumexp(logits + log_w.unsqueeze(0), dim=1)
    lse_txt = torch.logsumexp(logits.T + log_w.unsqueeze(0), dim=1)
    w = torch.exp(log_w)
    # examples with w_i == 0 contribute 0 (avoid 0 * -inf and its NaN gradient)
    finite = torch.isfinite(log_w)
    safe_log_w = torch.where(finite, log_w, torch.zeros_like(log_w))
    terms = 2.0 * safe_log_w + 2.0 * diag - lse_img - lse_txt
    terms = torch.where(finite, terms, torch.zeros_like(terms))
    return -0.5 * (w * terms).sum()


def weight_entropy(log_w: torch.Tensor) -> torch.Tensor:
    """Shannon entropy ``-sum_i w_i log w_i`` (nats) of normalised weights given as log-weights."""
    log_w = log_w.reshape(-1)
    w = torch.exp(log_w)
    safe = torch.where(torch.isfinite(log_w), log_w, torch.zeros_like(log_w))
    return -(w * safe).sum()
