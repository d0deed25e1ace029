"""Weighted CLIP loss (FLYT §3.3) against independent references."""

import math

import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from clipcurate.train.flyt.loss import weight_entropy, weighted_clip_loss

torch.set_num_threads(1)


def _features(b, d, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(b, d, generator=g, dtype=dtype), dim=-1)
    txt = F.normalize(torch.randn(b, d, generator=g, dtype=dtype), dim=-1)
    return img, txt


def brute_force(img, txt, s, w):
    """§3.3 literally: sum_i -w_i log(w_i e^{L_ii} / sum_j w_j e^{L_ij}), both directions averaged.

    Terms with w_i = 0 are skipped (their contribution is 0 * finite = 0)."""
    def contrast(u, v):
        total = 0.0
        b = u.shape[0]
        for i in range(b):
            if w[i] == 0:
                continue
            num = w[i] * math.exp(s * float(u[i] @ v[i]))
            den = sum(w[j] * math.exp(s * float(u[i] @ v[j])) for j in range(b))
            total += -w[i] * math.log(num / den)
        return total

    return 0.5 * (contrast(img, txt) + contrast(txt, img))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_uniform_weights_equal_open_clip_cliploss(dtype, tol):
    for b, s in [(2, 1.0), (7, 14.3), (16, 100.0)]:
        img, txt = _features(b, 8, dtype=dtype, seed=b)
        s_t = torch.tensor(s, dtype=dtype)
        ref = ClipLoss()(img, txt, s_t)
        log_w = torch.full((b,), -math.log(b), dtype=dtype)
        got = weighted_clip_loss(img, txt, s_t, log_w)
        assert abs(float(got) - float(ref)) <= tol * max(1.0, abs(float(ref))), (b, s, float(got), float(ref))


def test_brute_force_random_weights_float64():
    g = torch.Generator().manual_seed(1)
    for trial in range(6):
        b = 3 + trial
        img, txt = _features(b, 5, seed=100 + trial)
        s = float(torch.empty(()).uniform_(0.5, 30.0, generator=g))
        raw = torch.rand(b, generator=g, dtype=torch.float64) + 0.05
        w = (raw / raw.sum()) if trial % 2 == 0 else raw  # also unnormalised weights
        got = weighted_clip_loss(img, txt, torch.tensor(s, dtype=torch.float64), torch.log(w))
        ref = brute_force(img, txt, s, w.tolist())
        assert abs(float(got) - ref) < 1e-10 * max(1.0, abs(ref)), (trial, float(got), ref)


def test_zero_weight_drops_example_exactly():
    b, k = 6, 2
    img, txt = _features(b, 8, seed=3)
    s = torch.tensor(10.0, dtype=torch.float64)
    keep = [i for i in range(b) if i != k]
    # exact zero (log w = -inf), remaining uniform -> standard loss without k
    log_w = torch.full((b,), -math.log(b - 1), dtype=torch.float64)
    log_w[k] = -math.inf
    got = weighted_clip_loss(img, txt, s, log_w)
    ref = ClipLoss()(img[keep], txt[keep], s)
    assert torch.isfinite(got)
    assert abs(float(got) - float(ref)) < 1e-12
    # and the gradient stays finite
    lw = log_w.clone().requires_grad_()
    e = img.clone().requires_grad_()
    weighted_clip_loss(e, txt, s, lw).backward()
    assert torch.isfinite(lw.grad).all() and torch.isfinite(e.grad).all()
    # exact zero with non-uniform remaining weights == weighted loss of the sub-batch == brute force
    g = torch.Generator().manual_seed(7)
    raw = torch.rand(b, generator=g, dtype=torch.float64) + 0.1
    raw[k] = 0.0
    w = raw / raw.sum()
    got = weighted_clip_loss(img, txt, s, torch.log(w))
    sub = weighted_clip_loss(img[keep], txt[keep], s, torch.log(w[keep]))
    assert abs(float(got) - float(sub)) < 1e-12
    assert abs(float(got) - brute_force(img, txt, float(s), w.tolist())) < 1e-10


def test_weight_to_zero_limit():
    b, k = 5, 4
    img, txt = _features(b, 8, seed=4)
    s = torch.tensor(20.0, dtype=torch.float64)
    keep = [i for i in range(b) if i != k]
    ref = float(ClipLoss()(img[keep], txt[keep], s))
    scores = torch.zeros(b, dtype=torch.float64)
    prev = None
    for big in [5.0, 10.0, 20.0, 40.0]:
        scores[k] = -big
        got = float(weighted_clip_loss(img, txt, s, F.log_softmax(scores, 0)))
        err = abs(got - ref)
        if prev is not None:
            assert err < prev or err < 1e-12
        prev = err
    assert prev < 1e-12


def test_stable_at_large_logits_float32():
    b, d = 8, 4
    img, txt = _features(b, d, dtype=torch.float64, seed=5)
    txt = F.normalize(img + 0.3 * txt, dim=-1)  # aligned pairs -> diagonal logits near +s
    s = 200.0
    g = torch.Generator().manual_seed(9)
    w = torch.rand(b, generator=g, dtype=torch.float64) + 0.1
    w = w / w.sum()
    ref = brute_force(img, txt, s, w.tolist())  # float64 handles e^200
    got = weighted_clip_loss(img.float(), txt.float(), torch.tensor(s), torch.log(w).float())
    assert torch.isfinite(got)
    assert abs(float(got) - ref) < 1e-3 * max(1.0, abs(ref))
    # naive exp form in float32 overflows at these logits
    logits = s * img.float() @ txt.float().T
    naive = torch.exp(logits)
    assert not torch.isfinite(naive).all()
    wf = w.float()
    naive_loss = -(wf * torch.log(wf * torch.diagonal(naive) / (naive * wf).sum(1))).sum()
    assert not torch.isfinite(naive_loss)
    # gradients are finite too
    e = img.float().clone().requires_grad_()
    lw = torch.log(w).float().clone().requires_grad_()
    weighted_clip_loss(e, txt.float(), torch.tensor(s), lw).backward()
    assert torch.isfinite(e.grad).all() and torch.isfinite(lw.grad).all()


def test_weight_entropy():
    b = 10
    assert abs(float(weight_entropy(torch.full((b,), -math.log(b)))) - math.log(b)) < 1e-6
    log_w = torch.full((3,), -math.inf)
    log_w[1] = 0.0
    assert float(weight_entropy(log_w)) == 0.0
