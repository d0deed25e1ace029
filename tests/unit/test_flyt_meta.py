"""FLYT meta-gradient vs finite differences through an independently written AdamW (float64)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from clipcurate.train.flyt.adamw import AdamWState, adamw_step, weight_decay_param_groups
from clipcurate.train.flyt.downstream import model_downstream_loss
from clipcurate.train.flyt.meta import meta_gradient, scorer_gradients
from clipcurate.train.flyt.scorers import LinearMixer
from tests.unit.flyt_micro import CTX, VOCAB, micro_clip

torch.set_num_threads(1)

B, BD, C = 6, 5, 3
LR = 1e-2
BETA1, BETA2, EPS, WD = 0.9, 0.98, 1e-6, 0.2


def micro_model(seed=0):
    return micro_clip(seed).double().train()


# ---------------------------------------------------------------- independent references
def no_decay(name, p):
    return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name


def explicit_adamw(params, grads, m, r, t, lr):
    """AdamW written out with plain tensor ops (torch.optim.AdamW semantics, masked where r^ == 0)."""
    new_p, new_m, new_r = {}, {}, {}
    t1 = t + 1
    for k, p in params.items():
        g = grads[k]
        wd = 0.0 if no_decay(k, p) else WD
        mk = BETA1 * m[k] + (1 - BETA1) * g
        rk = BETA2 * r[k] + (1 - BETA2) * g * g
        mh = mk / (1 - BETA1**t1)
        rh = rk / (1 - BETA2**t1)
        pos = rh > 0
        rs = torch.where(pos, rh, torch.ones_like(rh))
        step = torch.where(pos, lr * mh / (torch.sqrt(rs) + EPS), torch.zeros_like(rh))
        new_p[k] = p * (1 - lr * wd) - step
        new_m[k], new_r[k] = mk, rk
    return new_p, new_m, new_r, t1


def naive_weighted_loss(img, txt, s, w):
    """§3.3 with explicit exponentials (fine in float64 at s ~ 14)."""
    logits = s * img @ txt.T
    e = torch.exp(logits)

    def contrast(E):
        num = w * torch.diagonal(E)
        den = (E * w.unsqueeze(0)).sum(1)
        return -(w * torch.log(num / den)).sum()

    return 0.5 * (contrast(e) + contrast(e.T))


def fwd(model, params, images, texts):
    out = functional_call(model, params, (images, texts))
    return out[0], out[1], out[2]


def ref_downstream_value(kind, img, txt, labels, log_tau):
    tau = 1.0 if kind == "ce" else math.exp(log_tau)
    logits = tau * img @ txt.T
    if kind == "clip":
        t = torch.arange(len(img))
        return 0.5 * (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t))
    return F.cross_entropy(logits, labels)


class Problem:
    def __init__(self, kind="ce", seed=0):
        self.kind = kind
        self.model = micro_model(seed)
        g = torch.Generator().manual_seed(seed + 1)
        self.up_images = torch.randn(B, 3, 8, 8, generator=g, dtype=torch.float64)
        self.up_texts = torch.randint(1, VOCAB, (B, CTX), generator=g)
        self.down_images = torch.randn(BD, 3, 8, 8, generator=g, dtype=torch.float64)
        self.labels = torch.randint(0, C, (BD,), generator=g)
        n_txt = BD if kind == "clip" else C
        self.down_texts = torch.randint(1, VOCAB, (n_txt, CTX), generator=g)
        self.log_tau = 2.0 if kind != "ce" else None
        theta = {k: p.detach().clone() for k, p in self.model.named_parameters()}
        m = {k: torch.zeros_like(v) for k, v in theta.items()}
        r = {k: torch.zeros_like(v) for k, v in theta.items()}
        t = 0
        # two prior reference steps (uniform weights, other upstream batches) -> non-trivial m, r, t
        for _ in range(2):
            imgs = torch.randn(B, 3, 8, 8, generator=g, dtype=torch.float64)
            txts = torch.randint(1, VOCAB, (B, CTX), generator=g)
            P = {k: v.clone().requires_grad_() for k, v in theta.items()}
            with sdpa_kernel(SDPBackend.MATH):
                i, tx, s = fwd(self.model, P, imgs, txts)
                loss = naive_weighted_loss(i, tx, s, torch.full((B,), 1.0 / B, dtype=torch.float64))
                grads = torch.autograd.grad(loss, list(P.values()), allow_unused=True)
            grads = {k: (torch.zeros_like(P[k]) if gg is None else gg) for k, gg in zip(P, grads)}
            theta, m, r, t = explicit_adamw(theta, grads, m, r, t, LR)
            theta = {k: v.detach() for k, v in theta.items()}
        assert t == 2
        self.theta, self.m, self.r, self.t = theta, m, r, t
        self.state = AdamWState(m={k: v.clone() for k, v in m.items()}, r={k: v.clone() for k, v in r.items()}, t=t)

    # L_down as an explicit function of the weights (independent of clipcurate.train.flyt)
    def L_of_w(self, w, downstream_override=None):
        with sdpa_kernel(SDPBackend.MATH):
            P = {k: v.clone().requires_grad_() for k, v in self.theta.items()}
            i, tx, s = fwd(self.model, P, self.up_images, self.up_texts)
            loss = naive_weighted_loss(i, tx, s, w)
            grads = torch.autograd.grad(loss, list(P.values()), allow_unused=True)
            grads = {k: (torch.zeros_like(P[k]) if gg is None else gg) for k, gg in zip(P, grads)}
            new, _, _, _ = explicit_adamw(self.theta, grads, self.m, self.r, self.t, LR)
            di, dt, ds = fwd(self.model, new, self.down_images, self.down_texts)
            if downstream_override is not None:
                return downstream_override(di, dt, ds)
            return ref_downstream_value(self.kind, di, dt, self.labels, self.log_tau)

    def downstream_fn(self):
        kind = self.kind

        def fn(theta_new, lt):
            return model_downstream_loss(kind, self.model, theta_new, self.down_images, self.down_texts, self.labels, lt)

        return fn

    def library(self, log_w, jvp_mode="jvp", downstream_fn=None, include_logit_scale=False, v_mode="closed_form"):
        lt = None if self.log_tau is None else torch.tensor(self.log_tau, dtype=torch.float64)
        return meta_gradient(
            self.model, self.theta, self.up_images, self.up_texts, log_w,
            downstream_fn or self.downstream_fn(), opt_state=self.state, lr=LR,
            betas=(BETA1, BETA2), eps=EPS, weight_decay=WD, log_tau=lt, jvp_mode=jvp_mode,
            include_logit_scale=include_logit_scale, v_mode=v_mode,
        )


def central_fd(f, x, h):
    out = torch.zeros_like(x)
    flat = out.view(-1)
    for i in range(x.numel()):
        xp = x.clone()
        xm = x.clone()
        xp.view(-1)[i] += h
        xm.view(-1)[i] -= h
        flat[i] = (f(xp) - f(xm)) / (2 * h)
    return out


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


def _weights(seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(B, generator=g, dtype=torch.float64), 0)


@pytest.mark.parametrize("v_mode", ["closed_form", "autograd"])
@pytest.mark.parametrize("kind", ["ce", "ce_temperature", "clip"])
def test_meta_gradient_wrt_weights_matches_finite_differences(kind, v_mode):
    prob = Problem(kind)
    w = _weights()
    fd = central_fd(prob.L_of_w, w, 1e-6)
    mg = prob.library(torch.log(w), v_mode=v_mode)
    assert mg.finite
    assert fd.abs().max() > 1e-6, "degenerate problem: meta-gradient too small to test"
    assert rel_err(mg.grad_w, fd) < 1e-3, (mg.grad_w, fd)
    # consistency of the log-weight gradient
    torch.testing.assert_close(mg.grad_log_w, w * mg.grad_w)
    # downstream loss value at theta' matches the independent computation
    assert abs(float(mg.downstream_loss) - float(prob.L_of_w(w))) < 1e-10
    # theta' and the new state match the explicit AdamW
    with sdpa_kernel(SDPBackend.MATH):
        P = {k: v.clone().requires_grad_() for k, v in prob.theta.items()}
        i, tx, s = fwd(prob.model, P, prob.up_images, prob.up_texts)
        grads = torch.autograd.grad(naive_weighted_loss(i, tx, s, w), list(P.values()), allow_unused=True)
    grads = {k: (torch.zeros_like(P[k]) if gg is None else gg) for k, gg in zip(P, grads)}
    new, m1, r1, t1 = explicit_adamw(prob.theta, grads, prob.m, prob.r, prob.t, LR)
    assert mg.new_opt_state.t == t1 == 3
    for k in new:
        torch.testing.assert_close(mg.new_params[k], new[k], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(mg.new_opt_state.r[k], r1[k], rtol=1e-9, atol=1e-18)


def test_log_tau_gradient_matches_finite_differences():
    prob = Problem("ce_temperature")
    w = _weights()
    mg = prob.library(torch.log(w))

    def f(lt):
        prob.log_tau = float(lt[0])
        return prob.L_of_w(w)

    base = prob.log_tau
    fd = central_fd(f, torch.tensor([base], dtype=torch.float64), 1e-6)
    prob.log_tau = base
    assert abs(float(mg.grad_log_tau) - float(fd[0])) < 1e-6 * max(1.0, abs(float(fd[0])))


def test_scorer_gradient_linear_mixer_matches_finite_differences():
    prob = Problem("ce")
    k = 3
    g = torch.Generator().manual_seed(11)
    zeta = torch.randn(B, k, generator=g, dtype=torch.float64)
    torch.manual_seed(5)
    mixer = LinearMixer(k).double()
    with torch.no_grad():
        mixer.linear.weight.copy_(torch.tensor([[0.7, -0.4, 0.2]], dtype=torch.float64))
    scores = mixer(zeta)
    mg = prob.library(F.log_softmax(scores.detach(), 0))
    grads = scorer_gradients(mixer, zeta, mg.grad_log_w)
    assert list(grads) == ["linear.weight"]  # no bias: see below

    # literal spec form: grad_phi <softmax(q_phi), grad_w L_down>
    (lit,) = torch.autograd.grad((torch.softmax(mixer(zeta), 0) * mg.grad_w).sum(), [mixer.linear.weight])
    torch.testing.assert_close(grads["linear.weight"], lit)

    a0 = mixer.linear.weight.detach().reshape(-1).clone()

    def f_a(a):
        return prob.L_of_w(torch.softmax(zeta @ a, 0))

    def f_b(b):
        return prob.L_of_w(torch.softmax(zeta @ a0 + b[0], 0))

    fd_a = central_fd(f_a, a0, 1e-6)
    fd_b = central_fd(f_b, torch.tensor([0.3], dtype=torch.float64), 1e-6)
    assert fd_a.abs().max() > 1e-6
    assert rel_err(grads["linear.weight"].reshape(-1), fd_a) < 1e-3, (grads["linear.weight"], fd_a)
    # softmax is shift invariant: a bias b in a . z + b would get zero meta-gradient, which is why the
    # mixer has none. float64: L(b +- h) agree to ~1e-15, so the difference quotient is ~1e-9 at most.
    assert abs(float(fd_b[0])) < 1e-7


def test_jvp_equals_double_backward():
    prob = Problem("ce")
    w = _weights(seed=21)
    mg_jvp = prob.library(torch.log(w), jvp_mode="jvp")
    mg_db = prob.library(torch.log(w), jvp_mode="double_backward")
    torch.testing.assert_close(mg_jvp.grad_w, mg_db.grad_w, rtol=1e-9, atol=1e-14)
    mg_ag = prob.library(torch.log(w), jvp_mode="double_backward", v_mode="autograd")
    torch.testing.assert_close(mg_jvp.grad_w, mg_ag.grad_w, rtol=1e-9, atol=1e-14)

    # plain autograd: v from the explicit AdamW, then grad_w <grad_theta L_w(theta; w), v> by double backward
    with sdpa_kernel(SDPBackend.MATH):
        P = {k: v.clone().requires_grad_() for k, v in prob.theta.items()}
        i, tx, s = fwd(prob.model, P, prob.up_images, prob.up_texts)
        g0 = torch.autograd.grad(naive_weighted_loss(i, tx, s, w), list(P.values()), allow_unused=True)
        G = {k: (torch.zeros_like(P[k]) if gg is None else gg.detach()).requires_grad_() for k, gg in zip(P, g0)}
        new, _, _, _ = explicit_adamw(prob.theta, G, prob.m, prob.r, prob.t, LR)
        di, dt, _ = fwd(prob.model, new, prob.down_images, prob.down_texts)
        ld = ref_downstream_value("ce", di, dt, prob.labels, None)
        v = torch.autograd.grad(ld, list(G.values()), allow_unused=True)  # logit scale: unused (v = 0)
        v = [torch.zeros_like(gg) if vv is None else vv for vv, gg in zip(v, G.values())]
        wl = w.clone().requires_grad_()
        P = {k: t.clone().requires_grad_() for k, t in prob.theta.items()}
        i, tx, s = fwd(prob.model, P, prob.up_images, prob.up_texts)
        gw = torch.autograd.grad(naive_weighted_loss(i, tx, s, wl), list(P.values()), create_graph=True, allow_unused=True)
        dot = sum((a * vv).sum() for a, vv in zip(gw, v) if a is not None)
        (ref,) = torch.autograd.grad(dot, wl)
    torch.testing.assert_close(mg_jvp.grad_w, ref, rtol=1e-8, atol=1e-14)


def test_logit_scale_path():
    """Built-in l_DS never uses theta's logit scale: including its path changes nothing.
    For a downstream objective that does use it, include_logit_scale=True is exact."""
    prob = Problem("ce")
    w = _weights(seed=4)
    a = prob.library(torch.log(w), include_logit_scale=False)
    b = prob.library(torch.log(w), include_logit_scale=True)
    torch.testing.assert_close(a.grad_w, b.grad_w, rtol=1e-12, atol=1e-15)

    def own_scale_clip(di, dt, ds):
        logits = ds * di @ dt.T
        return F.cross_entropy(logits, prob.labels)

    def fn(theta_new, lt):
        di, dt, ds = fwd(prob.model, theta_new, prob.down_images, prob.down_texts)
        return own_scale_clip(di, dt, ds)

    fd = central_fd(lambda x: prob.L_of_w(x, downstream_override=own_scale_clip), w, 1e-6)
    exact = prob.library(torch.log(w), downstream_fn=fn, include_logit_scale=True)
    assert rel_err(exact.grad_w, fd) < 1e-3


def test_adamw_matches_torch_optim():
    torch.manual_seed(0)
    model = micro_model(1)
    params = {k: p.detach().clone() for k, p in model.named_parameters()}
    ref_params = [torch.nn.Parameter(p.clone()) for p in params.values()]
    names = list(params)
    opt = torch.optim.AdamW(
        weight_decay_param_groups(list(zip(names, ref_params)), WD), lr=3e-3, betas=(BETA1, BETA2), eps=EPS
    )
    state = None
    g = torch.Generator().manual_seed(2)
    for _ in range(4):
        grads = {k: torch.randn(p.shape, generator=g, dtype=p.dtype) for k, p in params.items()}
        params, state = adamw_step(params, grads, state, 3e-3, betas=(BETA1, BETA2), eps=EPS, weight_decay=WD)
        for p, k in zip(ref_params, names):
            p.grad = grads[k].clone()
        opt.step()
    # float64 and O(1) random gradients (no coordinate near zero, where Adam's m / sqrt(r) would be
    # ill-conditioned): the two implementations differ only in operation order, ~1e-15 per step.
    for p, k in zip(ref_params, names):
        torch.testing.assert_close(params[k], p.detach(), rtol=1e-10, atol=1e-12)
    assert state.t == 4


def test_adamw_closed_form_vjp_equals_autograd():
    from clipcurate.train.flyt.adamw import adamw_grad_vjp

    g = torch.Generator().manual_seed(4)
    shapes = {"a.weight": (4, 3), "b.bias": (5,)}
    params = {k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()}
    state = AdamWState(
        m={k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()},
        r={k: torch.rand(s, generator=g, dtype=torch.float64) for k, s in shapes.items()},
        t=3,
    )
    state.r["a.weight"][0, 0] = 0.0  # with g = 0 there: masked coordinate
    grads = {k: torch.randn(s, generator=g, dtype=torch.float64).requires_grad_() for k, s in shapes.items()}
    with torch.no_grad():
        grads["a.weight"][0, 0] = 0.0
    cot = {k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()}
    new, _ = adamw_step(params, grads, state, 0.05)
    ag = torch.autograd.grad(sum((new[k] * cot[k]).sum() for k in new), list(grads.values()))
    cf = adamw_grad_vjp({k: v.detach() for k, v in grads.items()}, state, cot, 0.05)
    # the no-grad (in-place) path computes the same update and moments as the differentiable one
    fast, fast_state = adamw_step(params, {k: v.detach() for k, v in grads.items()}, state, 0.05)
    _, slow_state = adamw_step(params, grads, state, 0.05)
    for k in new:
        torch.testing.assert_close(fast[k], new[k].detach(), rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(fast_state.m[k], slow_state.m[k].detach(), rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(fast_state.r[k], slow_state.r[k].detach(), rtol=1e-14, atol=1e-15)
    # inputs are not mutated
    assert float(state.r["a.weight"][0, 0]) == 0.0 and state.t == 3
    for k, a in zip(grads, ag):
        torch.testing.assert_close(cf[k], a, rtol=1e-12, atol=1e-15)
    assert float(cf["a.weight"][0, 0]) == 0.0


def test_adamw_zero_second_moment_has_finite_derivative():
    p = {"w": torch.ones(3, 2, dtype=torch.float64)}
    g = {"w": torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, -1.0]], dtype=torch.float64, requires_grad=True)}
    new, _ = adamw_step(p, g, None, 0.1)
    (new["w"] ** 2).sum().backward()
    assert torch.isfinite(g["w"].grad).all()
    # zero-gradient coordinates are only decayed
    assert float(new["w"][0, 0]) == pytest.approx(1.0 - 0.1 * 0.2)
