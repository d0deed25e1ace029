"""FLYT meta-gradient (Appendix A, the "JVP trick") and one step of Algorithm 1.

Notation: theta = trainable reference-model parameters, w = per-example weights of the
upstream batch, ``L_w(theta; w) = l_WCL(f_theta(z), w)``, ``g(w) = grad_theta L_w``,
``theta'(w) = AdamW_step(theta, g(w))`` and ``L_down(w) = l_DS(f_{theta'(w)}(z_hat))``.

    grad_w L_down = (d g / d w)^T v,        v = d l_DS(f_{AdamW_step(theta, g)}(z_hat)) / d g
                  = grad_w < grad_theta L_w(theta; w), v >           (v held constant)
                  = grad_w sum_i < dL_w/de_i (e; w), J_i v >          (e_i = f_theta(z_i))

``v`` is computed by default in closed form: theta' = AdamW_step(theta, g) is formed without a
graph, ``u = d l_DS / d theta'`` by one backward through the model at theta', and
``v = (d theta'/d g)^T u`` with AdamW's diagonal Jacobian (both moments, bias corrections,
sqrt; the decoupled weight decay does not depend on g) — identical to autograd through the
differentiable update (``v_mode="autograd"``) without storing that update's graph.

``J_i v`` (the directional derivative of the embeddings along v) is computed once,
either with forward-mode AD (``torch.func.jvp`` over ``torch.func.functional_call``,
``jvp_mode="jvp"``) or with the double-backward trick (``jvp_mode="double_backward"``);
the two agree to round-off. The remaining w-dependence sits only in the cheap
``dL_w/de`` computed from cached, detached embeddings.

Logit scale: as in the reference implementation, only the image/text features enter the
JVP; the reference model's logit-scale parameter gets no hyper-gradient path
(``include_logit_scale=False``). For every built-in l_DS this omission is *exact*: l_DS
uses tau_DS (1 or its own lambda), never theta's logit scale, and AdamW is elementwise, so
the logit-scale component of v is identically 0. ``include_logit_scale=True`` adds the
term ``dL_w/ds * s * v_logit_scale`` for custom downstream objectives.

The scorer gradient ``grad_phi <softmax(q_phi(zeta)), grad_w L_down>`` is computed in the
equivalent, better-conditioned form ``grad_phi sum_i u_i log_softmax(q_phi(zeta))_i`` with
``u = grad_{log w} L_down = w * grad_w L_down`` (identical by the chain rule).

All model forwards run under the math SDPA kernel: the flash / memory-efficient kernels do
not support nested ``torch.func`` transforms or double backward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from .adamw import BETAS, EPS, WEIGHT_DECAY, AdamWState, adamw_grad_vjp, adamw_step
from .downstream import INIT_DOWNSTREAM_LOG_TAU, clip_forward, model_downstream_loss
from .loss import weight_entropy, weighted_clip_loss

__all__ = [
    "ReferenceState",
    "MetaGradient",
    "FlytStepOutput",
    "meta_gradient",
    "scorer_gradients",
    "flyt_step",
    "MAX_LOGIT_SCALE",
    "TAU_KEY",
]

MAX_LOGIT_SCALE = math.log(100.0)
TAU_KEY = "downstream_logit_scale"  # contains "logit_scale": never weight-decayed
LOGIT_SCALE_KEY = "logit_scale"


def _all_finite(tensors) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors if t is not None)


@dataclass
class ReferenceState:
    """The reference model's trainable parameters theta, its AdamW state and (optionally) lambda.

    ``params`` are plain detached tensors keyed like ``model.named_parameters()`` (only
    parameters with ``requires_grad``); the module's own tensors are used for everything else.
    """

    params: dict[str, torch.Tensor]
    opt_state: AdamWState = field(default_factory=AdamWState)
    log_tau: torch.Tensor | None = None
    tau_opt_state: AdamWState = field(default_factory=AdamWState)

    @classmethod
    def from_model(
        cls, model: torch.nn.Module, learnable_temperature: bool = False, init_log_tau: float = INIT_DOWNSTREAM_LOG_TAU
    ) -> "ReferenceState":
        params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        log_tau = None
        if learnable_temperature:
            ref = next(iter(params.values()))
            log_tau = torch.tensor(float(init_log_tau), dtype=ref.dtype, device=ref.device)
        return cls(params=params, opt_state=AdamWState(), log_tau=log_tau, tau_opt_state=AdamWState())

    @torch.no_grad()
    def load_into(self, model: torch.nn.Module) -> None:
        """Copy theta into the module's parameters (in place)."""
        named = dict(model.named_parameters())
        for k, v in self.params.items():
            named[k].copy_(v)


@dataclass
class MetaGradient:
    """Result of :func:`meta_gradient` (tensors detached)."""

    grad_w: torch.Tensor | None  # (B,)  d L_down / d w
    grad_log_w: torch.Tensor | None  # (B,)  d L_down / d log w  (= w * grad_w)
    upstream_loss: torch.Tensor  # L_w(theta; w)
    downstream_loss: torch.Tensor | None  # l_DS(f_theta'(z_hat))
    new_params: dict[str, torch.Tensor] | None  # theta' = AdamW_step(theta, g), detached
    new_opt_state: AdamWState | None  # AdamW state after that step, detached
    grad_log_tau: torch.Tensor | None  # d l_DS / d lambda (None without a learnable temperature)
    finite: bool
    reason: str = ""


def _embedding_jvp(model, params, tangents, images, texts, mode: str):
    """(J v)_img, (J v)_txt, (J v)_logit_scale-output for tangent dict ``tangents`` at ``params``."""
    if mode == "jvp":

        def f(p):
            img, txt, s = clip_forward(model, p, images, texts)
            return img, txt, s

        _, (t_img, t_txt, t_s) = torch.func.jvp(f, (dict(params),), (dict(tangents),))
        return t_img, t_txt, t_s
    if mode == "double_backward":
        with torch.enable_grad():
            P = {k: v.detach().requires_grad_() for k, v in params.items()}
            img, txt, s = clip_forward(model, P, images, texts)
            outs = (img, txt, s)
            dummies = tuple(torch.zeros_like(o, requires_grad=True) for o in outs)
            vjp = torch.autograd.grad(outs, list(P.values()), grad_outputs=dummies, create_graph=True, allow_unused=True)
            dot = sum((a * tangents[k]).sum() for a, k in zip(vjp, P) if a is not None)
            jv = torch.autograd.grad(dot, dummies, allow_unused=True)
        return tuple(torch.zeros_like(o) if j is None else j.detach() for j, o in zip(jv, outs))
    raise ValueError(f"unknown jvp_mode {mode!r}")


def meta_gradient(
    model: torch.nn.Module,
    params: Mapping[str, torch.Tensor],
    images: torch.Tensor,
    texts: torch.Tensor,
    log_w: torch.Tensor,
    downstream_fn: Callable[[Mapping[str, torch.Tensor], torch.Tensor | None], torch.Tensor],
    *,
    opt_state: AdamWState | None,
    lr: float,
    betas: tuple[float, float] = BETAS,
    eps: float = EPS,
    weight_decay: float = WEIGHT_DECAY,
    log_tau: torch.Tensor | None = None,
    jvp_mode: str = "jvp",
    include_logit_scale: bool = False,
    v_mode: str = "closed_form",
) -> MetaGradient:
    """grad_w l_DS(f_{AdamW_step(theta, grad_theta L_w(theta; w))}(z_hat)) by the JVP trick.

    Args:
        model: stock open_clip ``CLIP`` (used functionally; its parameters are not touched).
        params: theta, the trainable parameters (name -> tensor).
        images, texts: upstream batch z (preprocessed images, tokens).
        log_w: (B,) log-weights (``log_softmax(scores)``); treated as the variable.
        downstream_fn: ``(theta', log_tau) -> l_DS`` (scalar); must be differentiable in both.
        opt_state: reference AdamW state before the step (None = fresh).
        lr, betas, eps, weight_decay: AdamW hyper-parameters of the inner step.
        log_tau: lambda (learnable downstream log-temperature) or None.
        jvp_mode: ``"jvp"`` (forward mode) or ``"double_backward"``.
        include_logit_scale: also propagate through theta's logit scale (see module doc).
        v_mode: ``"closed_form"`` (default: theta' without a graph, one backward of l_DS to
            theta', then the diagonal AdamW Jacobian, :func:`~clipcurate.train.flyt.adamw.adamw_grad_vjp`)
            or ``"autograd"`` (backward through the differentiable AdamW update; more memory).
    """
    log_w = log_w.detach().reshape(-1)
    with sdpa_kernel(SDPBackend.MATH):
        # 1. embeddings with graph, weighted loss, g = grad_theta L_w
        with torch.enable_grad():
            P = {k: v.detach().requires_grad_() for k, v in params.items()}
            img, txt, s = clip_forward(model, P, images, texts)
            up_loss = weighted_clip_loss(img, txt, s, log_w)
            g = torch.autograd.grad(up_loss, list(P.values()), allow_unused=True)
        g = {k: (torch.zeros_like(P[k]) if gi is None else gi.detach()) for k, gi in zip(P, g)}
        img_c, txt_c, s_c = img.detach(), txt.detach(), s.detach()
        up_loss = up_loss.detach()
        del img, txt, s, P
        if not (_all_finite([up_loss]) and _all_finite(g.values())):
            return MetaGradient(None, None, up_loss, None, None, None, None, False, "non-finite upstream gradient")

        # 2. v = d l_DS(f_{AdamW(theta, g)}) / d g   (and d l_DS / d lambda)
        theta = {k: v.detach() for k, v in params.items()}
        lt = None if log_tau is None else log_tau.detach().clone().requires_grad_()
        if v_mode == "closed_form":
            # theta' without a graph; u = d l_DS / d theta' by one backward; v = (d theta'/d g)^T u
            with torch.no_grad():
                new_params, new_state = adamw_step(
                    theta, g, opt_state, lr, betas=betas, eps=eps, weight_decay=weight_decay
                )
            with torch.enable_grad():
                Q = {k: p.detach().requires_grad_() for k, p in new_params.items()}
                down_loss = downstream_fn(Q, lt)
                inputs = list(Q.values()) + ([lt] if lt is not None else [])
                grads = torch.autograd.grad(down_loss, inputs, allow_unused=True)
            u = {k: (torch.zeros_like(Q[k]) if gi is None else gi.detach()) for k, gi in zip(Q, grads)}
            del Q
            v = adamw_grad_vjp(g, opt_state, u, lr, betas=betas, eps=eps)
            del u
        elif v_mode == "autograd":
            # autograd through the differentiable AdamW update (stores the update's graph)
            with torch.enable_grad():
                G = {k: gi.clone().requires_grad_() for k, gi in g.items()}
                new_params, new_state = adamw_step(
                    theta, G, opt_state, lr, betas=betas, eps=eps, weight_decay=weight_decay
                )
                down_loss = downstream_fn(new_params, lt)
                inputs = list(G.values()) + ([lt] if lt is not None else [])
                grads = torch.autograd.grad(down_loss, inputs, allow_unused=True)
            v = {k: (torch.zeros_like(G[k]) if gi is None else gi.detach()) for k, gi in zip(G, grads)}
            del G
        else:
            raise ValueError(f"unknown v_mode {v_mode!r}")
        grad_log_tau = None
        if lt is not None:
            gl = grads[-1]
            grad_log_tau = torch.zeros_like(lt).detach() if gl is None else gl.detach()
        del grads
        new_params = {k: p.detach() for k, p in new_params.items()}
        new_state = new_state.detached()
        down_loss = down_loss.detach()
        if not (_all_finite([down_loss, grad_log_tau]) and _all_finite(v.values())):
            return MetaGradient(
                None, None, up_loss, down_loss, None, None, None, False, "non-finite downstream gradient"
            )

        # 3. J v: directional derivative of the upstream embeddings along v
        jv_img, jv_txt, jv_s = _embedding_jvp(model, theta, v, images, texts, jvp_mode)

    # 4. grad_w sum_i <dL_w/de_i (w), J_i v>  from cached embeddings
    with torch.enable_grad():
        lw = log_w.clone().requires_grad_()
        e_img = img_c.clone().requires_grad_()
        e_txt = txt_c.clone().requires_grad_()
        leaves = [e_img, e_txt]
        s_leaf = None
        if include_logit_scale and LOGIT_SCALE_KEY in params:
            s_leaf = s_c.clone().requires_grad_()
            leaves.append(s_leaf)
        loss_e = weighted_clip_loss(e_img, e_txt, s_c if s_leaf is None else s_leaf, lw)
        de = torch.autograd.grad(loss_e, leaves, create_graph=True)
        h = (de[0] * jv_img).sum() + (de[1] * jv_txt).sum()
        if s_leaf is not None:
            h = h + (de[2] * jv_s).sum()
        (grad_log_w,) = torch.autograd.grad(h, lw)
    grad_log_w = grad_log_w.detach()
    grad_w = grad_log_w / torch.exp(log_w)
    finite = _all_finite([grad_log_w])
    return MetaGradient(
        grad_w=grad_w,
        grad_log_w=grad_log_w,
        upstream_loss=up_loss,
        downstream_loss=down_loss,
        new_params=new_params,
        new_opt_state=new_state,
        grad_log_tau=grad_log_tau,
        finite=finite,
        reason="" if finite else "non-finite meta-gradient",
    )


def scorer_gradients(
    scorer: torch.nn.Module, features: torch.Tensor, grad_log_w: torch.Tensor
) -> dict[str, torch.Tensor]:
    """grad_phi <softmax(q_phi(features)), grad_w L_down> for every trainable scorer parameter.

    Computed as ``grad_phi sum_i grad_log_w[i] * log_softmax(q_phi(features))[i]`` (equal by the
    chain rule, since ``grad_log_w = w * grad_w``).
    """
    named = [(n, p) for n, p in scorer.named_parameters() if p.requires_grad]
    with torch.enable_grad():
        scores = scorer(features).reshape(-1)
        surrogate = (F.log_softmax(scores, dim=0) * grad_log_w.to(scores.dtype)).sum()
        grads = torch.autograd.grad(surrogate, [p for _, p in named], allow_unused=True)
    return {n: (torch.zeros_like(p) if gi is None else gi.detach()) for (n, p), gi in zip(named, grads)}


@dataclass
class FlytStepOutput:
    reference: ReferenceState  # theta (new if update_reference and the step was taken)
    scorer: torch.nn.Module  # updated in place
    upstream_loss: float
    downstream_loss: float
    weight_entropy: float  # nats, of softmax(scores) over the batch
    weight_max: float
    grad_w: torch.Tensor | None
    skipped: bool
    reason: str = ""
    log_tau: float | None = None
    logit_scale: float | None = None


def flyt_step(
    model: torch.nn.Module,
    reference: ReferenceState,
    scorer: torch.nn.Module,
    scorer_optimizer: torch.optim.Optimizer,
    upstream: Mapping[str, torch.Tensor],
    downstream: Mapping[str, torch.Tensor],
    *,
    downstream_kind: str,
    reference_lr: float,
    betas: tuple[float, float] = BETAS,
    eps: float = EPS,
    weight_decay: float = WEIGHT_DECAY,
    update_reference: bool = True,
    jvp_mode: str = "jvp",
    include_logit_scale: bool = False,
    v_mode: str = "closed_form",
) -> FlytStepOutput:
    """One step of Algorithm 1.

    ``upstream``: {"images", "texts", "features"}; ``downstream``: {"images", "labels", "texts"} with
    ``texts`` already sampled/tokenised for this step (see
    :func:`clipcurate.train.flyt.downstream.sample_downstream_texts`).

    scores = q_phi(features); w = softmax(scores); theta' = AdamW_step(theta, grad L_w);
    phi <- scorer_optimizer step on grad_phi l_DS(f_theta'); if ``update_reference``:
    theta <- theta' (the step taken with the old phi), lambda <- its AdamW step, and theta's
    logit-scale parameter is clamped to [0, ln 100]. The reference AdamW moments/step counter
    advance with every taken step (also when ``update_reference=False``, as in the reference
    implementation). A step with any non-finite gradient is skipped entirely (no state changes).
    """
    scorer.train()
    with torch.enable_grad():
        scores = scorer(upstream["features"]).reshape(-1)
        log_w_graph = F.log_softmax(scores, dim=0)
    log_w = log_w_graph.detach()
    ent = float(weight_entropy(log_w))
    wmax = float(torch.exp(log_w).max())

    def downstream_fn(theta_new, lt):
        return model_downstream_loss(
            downstream_kind, model, theta_new, downstream["images"], downstream["texts"], downstream["labels"], lt
        )

    mg = meta_gradient(
        model,
        reference.params,
        upstream["images"],
        upstream["texts"],
        log_w.to(next(iter(reference.params.values())).dtype),
        downstream_fn,
        opt_state=reference.opt_state,
        lr=reference_lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        log_tau=reference.log_tau,
        jvp_mode=jvp_mode,
        include_logit_scale=include_logit_scale,
        v_mode=v_mode,
    )

    def _out(ref, skipped, reason=""):
        return FlytStepOutput(
            reference=ref,
            scorer=scorer,
            upstream_loss=float(mg.upstream_loss),
            downstream_loss=float("nan") if mg.downstream_loss is None else float(mg.downstream_loss),
            weight_entropy=ent,
            weight_max=wmax,
            grad_w=mg.grad_w,
            skipped=skipped,
            reason=reason,
            log_tau=None if ref.log_tau is None else float(ref.log_tau),
            logit_scale=float(ref.params[LOGIT_SCALE_KEY]) if LOGIT_SCALE_KEY in ref.params else None,
        )

    if not mg.finite:
        return _out(reference, True, mg.reason)

    # scorer update (gradient taken at the old phi)
    with torch.enable_grad():
        surrogate = (log_w_graph * mg.grad_log_w.to(log_w_graph.dtype)).sum()
        named = [(n, p) for n, p in scorer.named_parameters() if p.requires_grad]
        grads = torch.autograd.grad(surrogate, [p for _, p in named], allow_unused=True)
    if not _all_finite(grads):
        return _out(reference, True, "non-finite scorer gradient")
    scorer_optimizer.zero_grad(set_to_none=True)
    for (_, p), gi in zip(named, grads):
        p.grad = torch.zeros_like(p) if gi is None else gi.detach()
    scorer_optimizer.step()

    # reference model: optimizer state always advances; theta (and lambda) only if updated
    if update_reference:
        new_params = dict(mg.new_params)
        if LOGIT_SCALE_KEY in new_params:
            new_params[LOGIT_SCALE_KEY] = new_params[LOGIT_SCALE_KEY].clamp(0.0, MAX_LOGIT_SCALE)
        log_tau, tau_state = reference.log_tau, reference.tau_opt_state
        if log_tau is not None:
            upd, tau_state = adamw_step(
                {TAU_KEY: log_tau}, {TAU_KEY: mg.grad_log_tau}, tau_state, reference_lr, betas=betas, eps=eps,
                weight_decay=weight_decay,
            )
            log_tau = upd[TAU_KEY].detach()
            tau_state = tau_state.detached()
        new_ref = ReferenceState(new_params, mg.new_opt_state, log_tau, tau_state)
    else:
        new_ref = ReferenceState(reference.params, mg.new_opt_state, reference.log_tau, reference.tau_opt_state)
    return _out(new_ref, False)
