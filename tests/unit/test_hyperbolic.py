"""HYPE's hyperbolic maths (clipcurate.embed.hyperbolic) against an independent float64 Lorentz-model computation.

The reference here is written from the definitions, not from MERU's algebra: full (time, space)
Lorentz vectors, the Minkowski inner product, the distance from the origin, and the exterior angle
from the hyperbolic law of cosines in the triangle (origin, x, y): the exterior angle at x is pi minus
the triangle's interior angle there.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from clipcurate.embed import hyperbolic as H  # noqa: E402

K = 0.1


# --------------------------------------------------------------------------------------------
# the independent reference (numpy float64)


def ref_exp0(v, c):
    """Exponential map at the origin o = (1/sqrt(c), 0): returns full Lorentz vectors (t, s)."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    r = math.sqrt(c) * n
    s = np.sinh(r) * v / r
    t = np.cosh(r) / math.sqrt(c)
    return np.concatenate([t, s], axis=-1)


def lorentz(x, y):
    return -x[..., 0] * y[..., 0] + np.sum(x[..., 1:] * y[..., 1:], axis=-1)


def ref_dist(x, y, c):
    return np.arccosh(np.maximum(-c * lorentz(x, y), 1.0)) / math.sqrt(c)


def ref_aper(x, c):
    return np.arcsin(2 * K / (math.sqrt(c) * np.linalg.norm(x[..., 1:], axis=-1)))


def ref_ext(x, y, c):
    """pi - interior angle at x of the geodesic triangle (origin, x, y) (law of cosines, curvature -c)."""
    o = np.zeros_like(x)
    o[..., 0] = 1 / math.sqrt(c)
    a = math.sqrt(c) * ref_dist(o, x, c)  # side o-x
    b = math.sqrt(c) * ref_dist(x, y, c)  # side x-y
    d = math.sqrt(c) * ref_dist(o, y, c)  # side o-y, opposite x
    cos_in = (np.cosh(a) * np.cosh(b) - np.cosh(d)) / (np.sinh(a) * np.sinh(b))
    return math.pi - np.arccos(np.clip(cos_in, -1, 1))


def ref_specificities(img, txt, ref_img, ref_txt, c):
    eps_i = np.array([np.mean([ref_ext(t, i, c) - ref_aper(t, c) for t in ref_txt]) for i in img])
    eps_t = np.array([np.mean([ref_ext(t, i, c) for i in ref_img]) - ref_aper(t, c) for t in txt])
    return eps_i, eps_t


def tangent(rng, n, d, lo=0.5, hi=2.0):
    """Tangent vectors with norms in [lo, hi] (cones of aperture < pi/2, no clamp active)."""
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * rng.uniform(lo, hi, size=(n, 1))


def t32(a):
    return torch.tensor(a, dtype=torch.float32)


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.5, 1.0, 2.3])
def test_exp_map_lands_on_the_hyperboloid_at_distance_norm_from_origin(c):
    rng = np.random.default_rng(0)
    v = tangent(rng, 50, 8, 0.05, 3.0)
    xs = H.exp_map0(t32(v), c).double().numpy()
    full = np.concatenate([np.sqrt(1 / c + np.sum(xs**2, 1, keepdims=True)), xs], 1)
    np.testing.assert_allclose(lorentz(full, full), -1 / c, rtol=1e-4)
    np.testing.assert_allclose(xs, ref_exp0(v, c)[:, 1:], rtol=1e-5, atol=1e-6)
    # the geodesic distance from the origin is the tangent vector's norm
    o = np.zeros((1, 9))
    o[0, 0] = 1 / math.sqrt(c)
    np.testing.assert_allclose(ref_dist(o, ref_exp0(v, c), c), np.linalg.norm(v, axis=1), rtol=1e-6)


@pytest.mark.parametrize("c", [0.7, 1.0, 1.9])
def test_distance_aperture_exterior_angle_match_float64_reference(c):
    rng = np.random.default_rng(1)
    v, w = tangent(rng, 40, 6), tangent(rng, 40, 6)
    x, y = ref_exp0(v, c), ref_exp0(w, c)
    xs, ys = H.exp_map0(t32(v), c), H.exp_map0(t32(w), c)
    np.testing.assert_allclose(H.distance(xs, ys, c).numpy(), ref_dist(x, y, c), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(H.pairwise_distance(xs, ys, c).numpy(),
                               ref_dist(x[:, None], y[None, :], c), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(H.half_aperture(xs, c).numpy(), ref_aper(x, c), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H.exterior_angle(xs, ys, c).numpy(), ref_ext(x, y, c), atol=2e-3)
    np.testing.assert_allclose(H.pairwise_exterior_angle(xs, ys, c).numpy(),
                               ref_ext(x[:, None], y[None, :], c), atol=2e-3)


def test_distance_of_a_point_to_itself_is_zero_not_nan():
    """HYPE's code clamps arccosh's argument at 1e-8 (NaN below 1); clamping at 1 + eps gives 0."""
    xs = H.exp_map0(t32(tangent(np.random.default_rng(2), 20, 5, 0.1, 4.0)), 1.0)
    d = H.distance(xs, xs, 1.0).double().numpy()
    assert np.isfinite(d).all()
    # float32 rounding of -c<x,x>_L = 1 is about x_t^2 * 2^-23 a term; arccosh(1 + e) ~ sqrt(2e)
    xt2 = 1 + np.sum(xs.double().numpy() ** 2, 1)
    assert (d <= np.sqrt(2 * 8 * xt2 * 2.0**-23)).all()


def test_specificities_match_float64_reference():
    c = 1.3
    rng = np.random.default_rng(3)
    img, txt = tangent(rng, 7, 5), tangent(rng, 7, 5)
    rimg, rtxt = tangent(rng, 11, 5), tangent(rng, 11, 5)
    want_i, want_t = ref_specificities(ref_exp0(img, c), ref_exp0(txt, c), ref_exp0(rimg, c), ref_exp0(rtxt, c), c)
    e = [H.exp_map0(t32(a), c) for a in (img, txt, rimg, rtxt)]
    for block in (3, 4096):  # blocks change nothing
        got_i, got_t = H.specificities(*e, c, block=block)
        np.testing.assert_allclose(got_i, want_i, atol=2e-3)
        np.testing.assert_allclose(got_t, want_t, atol=2e-3)


def test_entailment_loss_zero_inside_the_cone_positive_outside():
    c = 1.0
    general = t32([[1.0, 0.0], [0.0, 2.0]])
    # further out along the cone's axis: inside the cone (ext = 0)
    inside = t32([[3.0, 0.0], [0.0, 5.0]])
    assert float(H.entailment_loss(general, inside, c)) == pytest.approx(0.0, abs=1e-6)
    # slightly off the axis but within the aperture (aper(1,0) = asin(0.2) = 0.2014 rad)
    tilt = t32([[3.0, 0.2]])
    assert float(H.exterior_angle(t32([[1.0, 0.0]]), tilt, c)) < math.asin(0.2)
    assert float(H.entailment_loss(t32([[1.0, 0.0]]), tilt, c)) == 0.0
    # behind, towards the origin: ext = pi, loss = pi - aper
    behind = t32([[0.2, 0.0]])
    want = math.pi - math.asin(2 * K / 1.0)
    assert float(H.entailment_loss(t32([[1.0, 0.0]]), behind, c)) == pytest.approx(want, abs=1e-3)
    # perpendicular to the axis at the same radius: ext from the float64 reference
    side = np.array([[0.0, 1.0]])
    x64 = np.array([[math.sqrt(1 + 1.0), 1.0, 0.0]])
    y64 = np.concatenate([np.sqrt(1 + np.sum(side**2, 1, keepdims=True)), side], 1)
    want = float(ref_ext(x64, y64, c)[0] - ref_aper(x64, c)[0])
    assert want > 0
    assert float(H.entailment_loss(t32([[1.0, 0.0]]), t32(side), c)) == pytest.approx(want, abs=2e-3)


def test_model_terms_match_reference_end_to_end():
    """hype_scores of a (random) model = the float64 terms of its own tangent vectors."""
    torch.manual_seed(0)
    model = H.build_model(in_dim=6, dim=4, hidden=8, curv_init=0.8).eval()
    with torch.no_grad():
        model.curvature.fill_(math.log(1.7))
        model.alpha_img.fill_(0.0)
        model.alpha_txt.fill_(0.0)
    rng = np.random.default_rng(4)
    f = [rng.normal(size=(n, 6)).astype(np.float32) for n in (9, 9, 13, 13)]
    out = H.hype_scores(model, *f, block=4)
    with torch.no_grad():
        v = [model.encode_image(t32(f[0])), model.encode_text(t32(f[1])), model.encode_image(t32(f[2])), model.encode_text(t32(f[3]))]
    c = 1.7
    pts = [ref_exp0(a.double().numpy(), c) for a in v]
    np.testing.assert_allclose(out["neg_dist"], -ref_dist(pts[0], pts[1], c), rtol=1e-4, atol=1e-4)
    want_i, want_t = ref_specificities(*pts, c)
    np.testing.assert_allclose(out["eps_i"], want_i, atol=2e-3)
    np.testing.assert_allclose(out["eps_t"], want_t, atol=2e-3)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    torch.manual_seed(1)
    model = H.build_model(in_dim=5, dim=3, hidden=0, curv_init=2.0, learn_curvature=False)
    path = tmp_path / "hyp" / "model.pt"
    H.save_hyperbolic(path, model, {"note": "random"})
    back = H.load_hyperbolic(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k
    assert back.config == model.config and not back.curvature.requires_grad
    feats = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    a = H.hype_scores(model.eval(), feats, feats, feats, feats)
    b = H.hype_scores(back, feats, feats, feats, feats)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # a missing weight is refused (HYPE's strict=False would leave it random)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["state_dict"]["alpha_txt"]
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(H.HyperbolicError, match=r"bad.pt.*missing \['alpha_txt'\]"):
        H.load_hyperbolic(tmp_path / "bad.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(H.HyperbolicError, match="other.pt: expected a checkpoint of format"):
        H.load_hyperbolic(tmp_path / "other.pt")
    (tmp_path / "trunc.pt").write_bytes(path.read_bytes()[:50])
    with pytest.raises(H.HyperbolicError, match="trunc.pt: cannot read"):
        H.load_hyperbolic(tmp_path / "trunc.pt")
    with pytest.raises(H.HyperbolicError, match="nope.pt: hyperbolic checkpoint not found"):
        H.load_hyperbolic(tmp_path / "nope.pt")


def save_hype_checkpoint(path, arch: str = "tiny-clip", curv: float = 1.4, alpha_img: float = -0.3,
                         alpha_txt: float = -0.1, seed: int = 0):
    """Save a small random HYPE-layout checkpoint (a randomly initialised OpenCLIP ``arch`` plus the log
    scalars) at ``path``, as HYPE releases its ViT-L/14; returns ``(clip, state)``: the OpenCLIP model
    itself (for an independent computation) and the saved state dict."""
    import open_clip

    from clipcurate.embed.models import register_tiny_configs

    register_tiny_configs()
    torch.manual_seed(seed)
    clip = open_clip.create_model(arch, pretrained=None).eval()
    state = {**clip.state_dict(), "curvature": torch.tensor(math.log(curv)), "alpha_img": torch.tensor(alpha_img),
             "alpha_txt": torch.tensor(alpha_txt)}
    torch.save({"state_dict": state}, path)
    return clip, state


def test_hype_layout_checkpoint_loads_through_the_same_call(tmp_path):
    """A HYPE-style checkpoint (OpenCLIP weights + log curvature and scales), saved from a small random
    OpenCLIP model, loads through load_hyperbolic(path, arch); its towers give exp(alpha) times the
    unnormalised OpenCLIP features, and its terms equal the float64 reference's."""
    import open_clip

    path = tmp_path / "hype_ckpt.pt"
    clip, state = save_hype_checkpoint(path)
    model = H.load_hyperbolic(path, arch="tiny-clip")
    assert float(model.curv) == pytest.approx(1.4, rel=1e-6)
    pixels = torch.randn(5, 3, 32, 32)
    tokens = open_clip.get_tokenizer("tiny-clip")(["a red circle", "two blue squares", "a 7", "text", "a green star"])
    with torch.no_grad():
        np.testing.assert_allclose(model.encode_image(pixels).numpy(),
                                   (clip.encode_image(pixels) * math.exp(-0.3)).numpy(), rtol=1e-5, atol=1e-6)
        v_img = model.encode_image(pixels).double().numpy()
        v_txt = model.encode_text(tokens).double().numpy()
    out = H.hype_scores(model, pixels.numpy(), tokens.numpy(), pixels.numpy(), tokens.numpy(), block=2)
    pi, pt = ref_exp0(v_img, 1.4), ref_exp0(v_txt, 1.4)
    np.testing.assert_allclose(out["neg_dist"], -ref_dist(pi, pt, 1.4), rtol=1e-4, atol=1e-4)
    want_i, want_t = ref_specificities(pi, pt, pi, pt, 1.4)
    np.testing.assert_allclose(out["eps_i"], want_i, atol=2e-3)
    np.testing.assert_allclose(out["eps_t"], want_t, atol=2e-3)
    # without arch it is not this project's format: the error says how to load it
    with pytest.raises(H.HyperbolicError, match="hype_ckpt.pt: expected a checkpoint of format.*arch="):
        H.load_hyperbolic(path)
    # a missing scalar, a missing tower weight, another architecture: refused, naming the keys
    bad = dict(state)
    del bad["alpha_txt"]
    torch.save(bad, tmp_path / "no_alpha.pt")
    with pytest.raises(H.HyperbolicError, match=r"no_alpha.pt: .*missing \['alpha_txt'\]"):
        H.load_hyperbolic(tmp_path / "no_alpha.pt", arch="tiny-clip")
    bad = dict(state)
    del bad["visual.proj"]
    torch.save(bad, tmp_path / "no_proj.pt")
    with pytest.raises(H.HyperbolicError, match=r"no_proj.pt: .*missing \['visual.proj'\]"):
        H.load_hyperbolic(tmp_path / "no_proj.pt", arch="tiny-clip")
    with pytest.raises(H.HyperbolicError, match=r"hype_ckpt.pt: the OpenCLIP weights do not match arch 'RN50'"):
        H.load_hyperbolic(path, arch="RN50")
    # this project's format loads whatever arch is
    own = H.build_model(4, 3, 0)
    H.save_hyperbolic(tmp_path / "own.pt", own)
    assert H.load_hyperbolic(tmp_path / "own.pt", arch="tiny-clip").config == own.config
