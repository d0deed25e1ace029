"""Functional, differentiable AdamW (decoupled weight decay) for FLYT's inner step.

The update follows ``torch.optim.AdamW`` (Table 7 hyper-parameters: beta1 0.9,
beta2 0.98, eps 1e-6, weight decay 0.2)::

    t  <- t + 1
    p~ = p (1 - lr * wd)
    m  <- beta1 m + (1 - beta1) g
    r  <- beta2 r + (1 - beta2) g^2
    m^ = m / (1 - beta1^t);   r^ = r / (1 - beta2^t)
    p' = p~ - lr m^ / (sqrt(r^) + eps)     where r^ != 0,   p' = p~ elsewhere

The ``r^ != 0`` mask avoids the infinite derivative of ``sqrt`` at 0 (a
coordinate whose gradient and second moment are exactly zero is only decayed).
The stored moments are detached at the start of every call, so the result is
differentiable with respect to the gradient dict ``grads`` (and ``params``) of
*this* step only, which is what FLYT's meta-gradient needs.

Parameter groups follow open_clip: no weight decay for 1-D parameters or names
containing ``"bn"``, ``"ln"``, ``"bias"`` or ``"logit_scale"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import torch

__all__ = [
    "AdamWState",
    "adamw_step",
    "adamw_grad_vjp",
    "exclude_from_weight_decay",
    "weight_decay_param_groups",
    "BETAS",
    "EPS",
    "WEIGHT_DECAY",
]

BETAS = (0.9, 0.98)
EPS = 1e-6
WEIGHT_DECAY = 0.2


def exclude_from_weight_decay(name: str, p: torch.Tensor) -> bool:
    """open_clip's rule: gains, biases, norms and the logit scale get no weight decay."""
    return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name


def weight_decay_param_groups(named_parameters: Iterable[tuple[str, torch.Tensor]], weight_decay: float = WEIGHT_DECAY):
    """Two param groups for ``torch.optim.AdamW``: decayed and non-decayed (rule above)."""
    decay, no_decay = [], []
    for n, p in named_parameters:
        if not p.requires_grad:
            continue
        (no_decay if exclude_from_weight_decay(n, p) else decay).append(p)
    groups = []
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    return groups


@dataclass
class AdamWState:
    """First/second moments (per parameter name) and the step counter ``t``."""

    m: dict[str, torch.Tensor] = field(default_factory=dict)
    r: dict[str, torch.Tensor] = field(default_factory=dict)
    t: int = 0

    @classmethod
    def zeros_like(cls, params: Mapping[str, torch.Tensor]) -> "AdamWState":
        return cls(
            m={k: torch.zeros_like(v, memory_format=torch.preserve_format).detach() for k, v in params.items()},
            r={k: torch.zeros_like(v, memory_format=torch.preserve_format).detach() for k, v in params.items()},
            t=0,
        )

    def detached(self) -> "AdamWState":
        return AdamWState(
            m={k: v.detach() for k, v in self.m.items()},
            r={k: v.detach() for k, v in self.r.items()},
            t=self.t,
        )


def adamw_step(
    params: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    state: AdamWState | None,
    lr: float,
    betas: tuple[float, float] = BETAS,
    eps: float = EPS,
    weight_decay: float = WEIGHT_DECAY,
    no_decay: Callable[[str, torch.Tensor], bool] | set[str] | None = None,
) -> tuple[dict[str, torch.Tensor], AdamWState]:
    """One AdamW step; returns ``(new_params, new_state)``. Pure: inputs are not mutated.

    Differentiable w.r.t. ``grads`` (and ``params``). ``state=None`` means zero moments, ``t=0``.
    ``no_decay`` is a predicate ``(name, tensor) -> bool`` or a set of names; default:
    :func:`exclude_from_weight_decay`. When grad mode is on and an input requires grad, the update
    is built from out-of-place ops (the returned moments carry this step's graph and are detached
    when next used as input); otherwise the same arithmetic runs with in-place temporaries.
    """
    beta1, beta2 = betas
    if state is None:
        state = AdamWState.zeros_like(params)
    if no_decay is None:
        no_decay_fn = exclude_from_weight_decay
    elif callable(no_decay):
        no_decay_fn = no_decay
    else:
        names = set(no_decay)
        no_decay_fn = lambda n, p: n in names  # noqa: E731
    t = state.t + 1
    bc1 = 1.0 - beta1**t
    bc2 = 1.0 - beta2**t
    differentiable = torch.is_grad_enabled() and any(
        x.requires_grad for x in list(params.values()) + [grads[k] for k in params]
    )
    new_params: dict[str, torch.Tensor] = {}
    new_m: dict[str, torch.Tensor] = {}
    new_r: dict[str, torch.Tensor] = {}
    for name, p in params.items():
        g = grads[name]
        m_prev = state.m.get(name)
        r_prev = state.r.get(name)
        wd = 0.0 if no_decay_fn(name, p) else weight_decay
        if not differentiable:
            # same arithmetic with in-place temporaries (lower peak memory; no graph needed)
            with torch.no_grad():
                m = (1.0 - beta1) * g if m_prev is None else torch.mul(m_prev, beta1).add_(g, alpha=1.0 - beta1)
                r = (1.0 - beta2) * g * g if r_prev is None else torch.mul(r_prev, beta2).addcmul_(g, g, value=1.0 - beta2)
                r_hat = r / bc2
                zero = r_hat == 0
                upd = torch.div(m, bc1).div_(r_hat.sqrt_().add_(eps)).mul_(lr)
                del r_hat
                upd.masked_fill_(zero, 0.0)
                p_new = p * (1.0 - lr * wd) if wd != 0.0 else p.clone()
                new_params[name] = p_new.sub_(upd)
                new_m[name], new_r[name] = m, r
            continue
        m_prev = torch.zeros_like(p) if m_prev is None else m_prev.detach()
        r_prev = torch.zeros_like(p) if r_prev is None else r_prev.detach()
        p_dec = p * (1.0 - lr * wd) if wd != 0.0 else p
        m = beta1 * m_prev + (1.0 - beta1) * g
        r = beta2 * r_prev + (1.0 - beta2) * g * g
        m_hat = m / bc1
        r_hat = r / bc2
        nonzero = r_hat != 0
        # substitute 1 where r^ == 0 so that neither branch has an infinite/NaN derivative
        r_safe = torch.where(nonzero, r_hat, torch.ones_like(r_hat))
        upd = lr * m_hat / (torch.sqrt(r_safe) + eps)
        new_params[name] = torch.where(nonzero, p_dec - upd, p_dec)
        new_m[name] = m
        new_r[name] = r
    return new_params, AdamWState(m=new_m, r=new_r, t=t)


@torch.no_grad()
def adamw_grad_vjp(
    grads: Mapping[str, torch.Tensor],
    state: AdamWState | None,
    cotangents: Mapping[str, torch.Tensor],
    lr: float,
    betas: tuple[float, float] = BETAS,
    eps: float = EPS,
) -> dict[str, torch.Tensor]:
    """Closed-form vector-Jacobian product ``v = (d p'/d g)^T u`` of :func:`adamw_step`.

    AdamW is elementwise, so ``d p'/d g`` is diagonal::

        d p'/d g = -lr [ (1-beta1) / (bc1 (sqrt(r^) + eps))
                         - m^ (1-beta2) g / (bc2 sqrt(r^) (sqrt(r^) + eps)^2) ]    (0 where r^ == 0)

    with ``m^, r^`` the bias-corrected moments *after* the step and ``bc_i = 1 - beta_i^t``.
    Equal to autograd through :func:`adamw_step` (decoupled weight decay does not depend on g)
    but without storing the update's graph (a few temporaries of one parameter's size at a time).
    """
    beta1, beta2 = betas
    t = (0 if state is None else state.t) + 1
    bc1 = 1.0 - beta1**t
    bc2 = 1.0 - beta2**t
    out: dict[str, torch.Tensor] = {}
    for name, g in grads.items():
        u = cotangents[name]
        m_prev = None if state is None else state.m.get(name)
        r_prev = None if state is None else state.r.get(name)
        m_hat = (1.0 - beta1) * g if m_prev is None else torch.mul(m_prev, beta1).add_(g, alpha=1.0 - beta1)
        m_hat.div_(bc1)
        r_hat = (1.0 - beta2) * g * g if r_prev is None else torch.mul(r_prev, beta2).addcmul_(g, g, value=1.0 - beta2)
        r_hat.div_(bc2)
        zero = r_hat == 0
        sq = r_hat.masked_fill_(zero, 1.0).sqrt_()  # sqrt(r^) (1 where masked)
        denom = sq + eps
        # second term: m^ (1-beta2) g / (bc2 sqrt(r^) denom^2)
        d = m_hat.mul_(g).mul_((1.0 - beta2) / bc2).div_(sq).div_(denom).div_(denom)
        del m_hat, sq
        d = torch.reciprocal(denom).mul_((1.0 - beta1) / bc1).sub_(d)
        del denom
        out[name] = d.mul_(u).mul_(-lr).masked_fill_(zero, 0.0)
    return out

