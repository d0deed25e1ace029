"""FLYT's M-FLYT inputs (issue 15 §1): s-CLIPLoss, NormSim, the IN1K/CC2M classifiers, and the mixes
and runs built on them, each against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.test_score_runner import world  # noqa: F401 - the crafted pool fixture

torch = pytest.importorskip("torch")


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _pairs(n, d, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    img = _unit(rng.normal(size=(n, d)))
    txt = _unit(img + noise * rng.normal(size=(n, d)))
    return img.astype(np.float32), txt.astype(np.float32)


def _clip_loss_per_sample(img, txt, tau):
    """Each sample's symmetric CLIP loss in one batch, by torch's cross entropy in float64."""
    logits = torch.from_numpy(img.astype(np.float64) @ txt.astype(np.float64).T) / tau
    target = torch.arange(len(img))
    rows = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    cols = torch.nn.functional.cross_entropy(logits.T, target, reduction="none")
    return ((rows + cols) / 2).numpy()


# ------------------------------------------------------------------------------------ s-CLIPLoss


@pytest.mark.parametrize("tau", [0.01, 0.07, 0.002])  # 0.002: the log-sum-exp path (2/tau > 700)
def test_negclip_loss_one_batch_is_minus_tau_times_clip_loss(tau):
    from clipcurate.scores.methods.sclip_loss import negclip_loss

    img, txt = _pairs(300, 16)
    got = negclip_loss(img, txt, batch_size=1000, permutations=3, temperature=tau, seed=0, block_rows=64, device="cpu")
    want = -tau * _clip_loss_per_sample(img, txt, tau)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * tau)


def test_negclip_loss_averages_the_batchings():
    """With B < n every sample's score is the mean, over the K batchings, of -tau times its CLIP loss
    in the batch it fell into; the batches are equal-size pieces of each seeded permutation."""
    from clipcurate.scores.methods.sclip_loss import negclip_loss

    n, b, k, tau = 250, 64, 4, 0.05
    img, txt = _pairs(n, 8, seed=1, noise=1.0)
    got = negclip_loss(img, txt, batch_size=b, permutations=k, temperature=tau, seed=[7, 3], block_rows=17, device="cpu")
    want = np.zeros(n)
    sizes = set()
    for j in range(k):
        perm = np.random.default_rng([7, 3, j]).permutation(n)
        n_batches = -(-n // b)
        # equal sizes: the first n % n_batches batches one longer (numpy.array_split's rule)
        bounds = np.cumsum([0] + [n // n_batches + (i < n % n_batches) for i in range(n_batches)])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            idx = np.sort(perm[lo:hi])  # the batch as a set: the loss does not depend on order
            sizes.add(hi - lo)
            want[idx] += -tau * _clip_loss_per_sample(img[idx], txt[idx], tau)
    want /= k
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= b
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # the batches matter: the whole-pool value differs
    full = -tau * _clip_loss_per_sample(img, txt, tau)
    assert np.abs(got - full).max() > 1e-2


def test_negclip_loss_demotes_generic_captions():
    """Two pairs with the same cosine: a generic caption that also matches 30 other images of its
    batch, and a caption unlike any other image. s-CLIPLoss ranks the generic one far lower."""
    from clipcurate.scores.methods.sclip_loss import negclip_loss

    rng = np.random.default_rng(2)
    d = 32
    img, txt = _pairs(200, d, seed=2, noise=1.0)
    hub = _unit(rng.normal(size=(1, d)))
    img[:31] = _unit(hub + 0.1 * rng.normal(size=(31, d)))
    txt[0] = hub[0]
    c = float(img[0] @ txt[0])
    orth = rng.normal(size=d)
    orth -= (orth @ img[199]) * img[199]
    txt[199] = c * img[199] + np.sqrt(1 - c * c) * orth / np.linalg.norm(orth)
    assert float(img[199] @ txt[199]) == pytest.approx(c, abs=1e-5)
    s = negclip_loss(img, txt, batch_size=200, permutations=1, temperature=0.01, seed=0, device="cpu")
    assert s[0] < s[199] - 0.01


def test_sclip_loss_method_is_seeded_per_chunk():
    from clipcurate.scores import get

    m = get("sclip_loss")
    img, txt = _pairs(120, 8, seed=3, noise=1.0)
    params = {**m.defaults, "batch_size": 32, "permutations": 2, "device": "cpu"}
    a = m.func(params, emb={"uid": [f"u{i}" for i in range(120)], "image": img, "text": txt})["score"]
    b = m.func(params, emb={"uid": [f"u{i}" for i in range(120)], "image": img, "text": txt})["score"]
    c = m.func(params, emb={"uid": [f"v{i}" for i in range(120)], "image": img, "text": txt})["score"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ------------------------------------------------------------------------------------ NormSim


def test_normsim_against_explicit_norms_and_absolute_max():
    from clipcurate.scores.methods.normsim import normsim

    rng = np.random.default_rng(4)
    target = _unit(rng.normal(size=(50, 12))).astype(np.float32)
    pool = _unit(rng.normal(size=(90, 12))).astype(np.float32)
    pool[0] = -target[5]  # its strongest match is -1: |.| makes NormSim_inf 1, a signed max would not
    out = normsim(pool, target, block_rows=7, device="cpu")
    sims = pool.astype(np.float64) @ target.astype(np.float64).T
    want_inf = np.array([np.linalg.norm(s, ord=np.inf) for s in sims])
    want_l2 = np.array([np.linalg.norm(s, ord=2) for s in sims])
    np.testing.assert_allclose(out["inf"], want_inf, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["l2"], want_l2, rtol=1e-5, atol=1e-6)
    assert out["inf"][0] == pytest.approx(1.0, abs=1e-5) and sims[0].max() < 0.9


def test_normsim_method_columns():
    from clipcurate.scores import get

    m = get("normsim")
    assert set(m.outputs) == {"score", "inf", "l2"}
    rng = np.random.default_rng(5)
    t = _unit(rng.normal(size=(10, 4))).astype(np.float32)
    p = _unit(rng.normal(size=(6, 4))).astype(np.float32)
    out = m.func({**m.defaults, "device": "cpu"}, emb={"uid": list(range(6)), "image": p}, target={"image": t})
    np.testing.assert_array_equal(out["score"], out["inf"])


def test_normsim_rejects_mismatched_models():
    from clipcurate.scores.methods.normsim import normsim

    with pytest.raises(ValueError, match="same d"):
        normsim(np.zeros((3, 4)), np.zeros((3, 5)))


# ------------------------------------------------------------------------------------ classifiers


def test_linear_classifier_ranks_like_sklearn_logistic_regression():
    """The classifier trainer's logits rank held-out rows as a scikit-learn logistic regression on
    the same features does (a separable toy: shifted Gaussians)."""
    from scipy.stats import spearmanr
    from sklearn.linear_model import LogisticRegression

    from clipcurate.scores.helpers.classifier import train_binary_classifier

    rng = np.random.default_rng(6)
    d = 16
    shift = np.zeros(d)
    shift[:3] = [1.5, -1.0, 0.8]
    pos = rng.normal(size=(400, d)) + shift
    neg = rng.normal(size=(1600, d))
    clf = train_binary_classifier(pos.astype(np.float32), neg.astype(np.float32), steps=600, batch_size=64, lr=0.05,
                                  warmup=20, seed=0)
    ref = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(
        np.vstack([pos, neg]), np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    test = rng.normal(size=(500, d)) + rng.uniform(0, 1, size=(500, 1)) * shift
    ours = test @ clf["weight"] + clf["bias"]
    theirs = ref.decision_function(test)
    rho = spearmanr(ours, theirs).correlation
    assert rho > 0.95, rho
    assert clf["train_accuracy"]["balanced"] > 0.8


# ------------------------------------------------------------------------------------ mixes


def test_sclip_normsim_two_stage_hand_computed():
    """Top 30 % by s-CLIPLoss, then 20 % of the ORIGINAL pool by NormSim among those (10 rows)."""
    from clipcurate.mix.aggregate import mix

    sclip = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], np.float32)      # stage 1 keeps rows 0, 1, 2
    norms = np.array([0.1, 0.9, 0.5, 1.0, 1.0, 1, 1, 1, 1, 1], np.float32)  # of those, the 2 best: 1, 2
    out = mix("two_stage", {"sclip_loss": sclip, "normsim:inf": norms},
              {"first": "sclip_loss", "second": "normsim:inf", "p": 0.3, "q": 0.2})
    assert np.flatnonzero(out["keep"]).tolist() == [1, 2]


# ------------------------------------------------------------------------------------ config

#: The agreed names of M-FLYT's twelve inputs, in FLYT Table 2's order (issue 15 §1): hcross builds
#: clip_score_l14 on a larger openai_large, hhype the hype columns.
TWELVE = ["clip_score", "clip_score_l14", "dfn", "dfn_ft", "hype:neg_dist", "hype:eps_i", "hype:eps_t",
          "sclip_loss", "normsim:inf", "in1k_classifier", "cc2m_classifier", "eflyt"]


def _shipped():
    from pathlib import Path

    from clipcurate.config.check import load_yaml

    root = Path(__file__).resolve().parents[2]
    return load_yaml(root / "config" / "config.yaml"), load_yaml(root / "config" / "mixes" / "flyt.yaml"), \
        load_yaml(root / "config" / "tables" / "flyt_inputs.yaml"), root


def test_mflyt_and_the_aggregations_read_exactly_the_twelve_inputs():
    config, mixes, _, _ = _shipped()
    runs = config["flyt"]["runs"]
    assert runs["mflyt"]["inputs"] == TWELVE
    for name in ("sum", "standardized_sum", "in_weighted_r2", "in_weighted_r4", "in_weighted_r8", "in_weighted_r16"):
        assert mixes[name]["inputs"] == TWELVE, name
        if name.startswith("in_weighted"):
            assert list(mixes[name]["params"]["in_accuracy"]) == TWELVE
    assert [mixes[f"in_weighted_r{r}"]["params"]["r"] for r in (2, 4, 8, 16)] == [2, 4, 8, 16]
    assert mixes["mflyt"]["flyt"] == "mflyt"


def test_table9_leaves_out_exactly_the_papers_groups():
    """Each leave-one-group-out run is the twelve less one of FLYT Table 9's groups, order kept."""
    config, _, _, _ = _shipped()
    runs = config["flyt"]["runs"]
    groups = {
        "mflyt_no_clip": ["clip_score", "clip_score_l14"],
        "mflyt_no_dfn": ["dfn", "dfn_ft"],
        "mflyt_no_hype": ["hype:neg_dist", "hype:eps_i", "hype:eps_t"],
        "mflyt_no_sclip": ["sclip_loss", "normsim:inf"],
        "mflyt_no_classifiers": ["in1k_classifier", "cc2m_classifier"],
        "mflyt_no_eflyt": ["eflyt"],
    }
    for run, out in groups.items():
        assert runs[run]["inputs"] == [i for i in TWELVE if i not in out], run
        assert {k: v for k, v in runs[run].items() if k != "inputs"} == {k: v for k, v in runs["mflyt"].items() if k != "inputs"}
    # the groups partition the twelve
    assert sorted(i for g in groups.values() for i in g) == sorted(TWELVE)
    assert runs["mflyt_hype"]["inputs"] == groups["mflyt_no_hype"]
    assert runs["mflyt_sclip"]["inputs"] == groups["mflyt_no_sclip"]
    # Table 8: one setting changed each
    assert runs["mflyt_ce_temperature"]["train"] == {"downstream_loss": "ce_temperature"}
    assert runs["mflyt_init_openai"]["reference_model"] == "openai" and runs["mflyt"]["reference_model"] == "nofilter"
    assert runs["mflyt_init_random"]["reference_model"] == "random_init" and config["models"]["random_init"]["pretrained"] is None
    assert runs["mflyt_unstandardized"]["standardize"] is False


def test_standardize_reaches_the_run_only_when_set():
    """A run's ``standardize: false`` reaches train_run; runs that leave it out keep their params
    (no key), so the other FLYT runs are not rerun."""
    from types import SimpleNamespace

    from clipcurate.train.trainers.flyt import run_params

    config, _, _, _ = _shipped()
    w = SimpleNamespace(config=config, model_spec=lambda m: {"name": m}, score_specs=lambda refs: list(refs))
    runs = config["flyt"]["runs"]
    assert "standardize" not in run_params(runs["mflyt"], "mflyt", w)
    assert run_params(runs["mflyt_unstandardized"], "mflyt_unstandardized", w)["standardize"] is False


# ------------------------------------------------------------------------------------ planner and runner


def test_normsim_and_sclip_loss_through_the_planner_and_runner(world):  # noqa: F811 - the crafted pool
    """The config entries plan and run per chunk on a crafted 7-row pool: NormSim's columns against
    the reference set computed directly; s-CLIPLoss within each chunk against the chunk's CLIP losses."""
    from tests.unit.test_score_runner import CHUNKS, run

    got = run("normsim", {"method": "normsim", "model": "m", "target": "downstream", "params": {"device": "cpu"}})
    sims = world["img"].astype(np.float64) @ world["ref_img"].astype(np.float64).T
    np.testing.assert_allclose(got["inf"], np.abs(sims).max(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["l2"], np.linalg.norm(sims, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["score"], got["inf"])

    tau = 0.1
    got = run("sclip_loss", {"method": "sclip_loss", "model": "m",
                             "params": {"batch_size": 1000, "permutations": 2, "temperature": tau, "device": "cpu"}})
    want = np.zeros(len(CHUNKS))
    for c in set(CHUNKS):  # one batch per chunk: the chunk's own pairs are the negatives
        rows = [i for i, ch in enumerate(CHUNKS) if ch == c]
        want[rows] = -tau * _clip_loss_per_sample(world["img"][rows], world["txt"][rows], tau)
    np.testing.assert_allclose(got["score"], want, rtol=1e-4, atol=1e-5)


def test_bad_sclip_loss_params_are_config_errors():
    from clipcurate.scores.methods.sclip_loss import _check

    for params, msg in (({"batch_size": 1}, "at least 2"), ({"permutations": 0}, "positive integer"),
                        ({"temperature": 0}, "positive number"), ({"device": "tpu"}, "auto, cpu or cuda")):
        with pytest.raises(ValueError, match=msg):
            _check({"params": params}, {}, "scores.s")
