"""HYPE as a workflow method: the trained tiny hyperbolic CLIP ranks matched world pairs above
mismatched ones, the ``hype`` score's columns, the ``hype_sum`` mix on a hand case, and the
``hype:<column>`` references mixes and M-FLYT runs use."""

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from clipcurate.config import check as config_check
from clipcurate.mix import aggregate as mixing  # noqa: E402
from clipcurate.embed import hyperbolic as H  # noqa: E402
from clipcurate.config.errors import ConfigError  # noqa: E402
from clipcurate.config.plan_checks import check_score_columns  # noqa: E402
from clipcurate.scores import get  # noqa: E402
from clipcurate.scores.methods.hype import hype, reference_rows  # noqa: E402
from clipcurate.scores.plan import plan_score  # noqa: E402
from clipcurate.scores.runner import check_outputs  # noqa: E402
from clipcurate.world import generate as G  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def world_pairs(n: int, seed: int = 0, dim: int = 32):
    """Matched pairs of the world's HQ set as planned by its generator (scenes and their captions),
    featurised without rendering: the image side from the scene's attributes (one-hot, plus noise),
    the caption side from a hashed bag of its words and word pairs (scikit-learn), each projected to
    ``dim`` and L2-normalised like frozen CLIP embeddings. (The reference CLIP's own embeddings need
    the world rendered and a model trained: minutes, not a unit test.)"""
    from sklearn.feature_extraction.text import HashingVectorizer

    samples = G.plan_reference("hq", n, G.resolve_cfg(None), seed)
    scenes = [s["job"][1] for s in samples]
    fields = ("subject", "cls", "colour", "texture", "count", "size", "position", "style")
    vocab = {f: sorted({str(getattr(s, f)) for s in scenes}) for f in fields}
    onehot = np.zeros((n, sum(len(v) for v in vocab.values())))
    off = 0
    for f in fields:
        for i, s in enumerate(scenes):
            onehot[i, off + vocab[f].index(str(getattr(s, f)))] = 1.0
        off += len(vocab[f])
    rng = np.random.default_rng(seed)
    img = (onehot + rng.normal(scale=0.3, size=onehot.shape)) @ rng.normal(size=(onehot.shape[1], dim))
    bag = HashingVectorizer(n_features=512, ngram_range=(1, 2), alternate_sign=False).transform([s["txt"] for s in samples])
    txt = bag.toarray() @ rng.normal(size=(512, dim))
    norm = lambda a: (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    return norm(img), norm(txt)


@pytest.fixture(scope="module")
def trained():
    img, txt = world_pairs(3000)
    cfg = {"model": "m", "dataset": "hq", "dim": 16, "hidden": 64, "steps": 300, "batch_size": 128, "lr": 3e-3,
           "warmup": 20, "holdout": 0.25}
    model, info = H.train_entry(img, txt, cfg, seed=0)
    return model, info, img, txt


def test_trained_model_ranks_matched_world_pairs_above_mismatched(trained):
    """Held-out AUC of -d_L, matched against mismatched captions. Measured 0.883-0.892 (world and
    training seeds 0-2, 300 steps, 5-11 s on 2 shared cores); an untrained model of the same shape
    is at chance (measured 0.494-0.506). The floor 0.8 leaves room for other machines' rounding."""
    model, info, img, txt = trained
    assert info["heldout_pairs"] == 750 and info["train_pairs"] == 2250
    assert info["heldout_auc"] > 0.8
    # independent AUC (Mann-Whitney by brute force over all pairs) on the held-out rows
    hold = np.random.default_rng([0, 15]).permutation(len(img))[:750]
    with torch.no_grad():
        x, y = model.embed_image(torch.from_numpy(img[hold])), model.embed_text(torch.from_numpy(txt[hold]))
        d = H.pairwise_distance(x, y, model.curv).double().numpy()
    pos, neg = -np.diag(d), -d[~np.eye(len(d), dtype=bool)]
    auc = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc > 0.8
    torch.manual_seed(0)
    untrained = H.build_model(img.shape[1], 16, 64)
    assert H.matched_auc(untrained, img[hold], txt[hold]) < 0.7
    # the entailment loss went down with the contrastive one, and the curvature moved (it is learned)
    first, last = info["history"][0], info["history"][-1]
    assert last["contrastive"] < first["contrastive"] and last["entailment"] <= first["entailment"]
    assert info["curvature"] != pytest.approx(1.0, abs=1e-4)


def test_hype_score_columns_and_sum(trained, tmp_path):
    model, _, img, txt = trained
    path = tmp_path / "model.pt"
    H.save_hyperbolic(path, model)
    emb = {"uid": None, "image": img[:200], "text": txt[:200]}
    ref = {"image": img[2000:2600], "text": txt[2000:2600], "label": None}
    params = dict(get("hype").defaults, reference_size=300)
    out = hype(params, emb, ref, str(path))
    rows = reference_rows(600, 300, params["seed"])
    want = H.hype_scores(model, img[:200], txt[:200], ref["image"][rows], ref["text"][rows])
    for k in ("neg_dist", "eps_i", "eps_t"):
        np.testing.assert_array_equal(out[k], want[k])
    np.testing.assert_allclose(out["score"], want["neg_dist"] + want["eps_i"] + want["eps_t"], rtol=1e-6, atol=1e-6)
    # the runner's check accepts the declared columns (float32, finite)
    plan = type("P", (), {"name": "hype", "method": "hype", "outputs": get("hype").outputs})()
    cols = check_outputs(plan, out, 200)
    assert set(cols) == {"score", "neg_dist", "eps_i", "eps_t"} and all(v.dtype == np.float32 for v in cols.values())
    assert len(reference_rows(50, 0, 0)) == 50 and len(reference_rows(50, 80, 0)) == 50


def test_hype_sum_mix_hand_case():
    cols = {"hype:neg_dist": np.array([-1.0, -0.5, -2.0], np.float32), "hype:eps_i": np.array([0.25, 0.5, 1.0], np.float32),
            "hype:eps_t": np.array([0.5, -0.25, 0.5], np.float32)}
    out = mixing.mix("sum", cols)
    np.testing.assert_allclose(out["score"], [-0.25, -0.25, -0.5])


def _config():
    import yaml

    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config" / "scales" / "tiny.yaml").read_text()))
    for kind in config_check.NAMED_SECTIONS:
        config_check.merge_named_files(cfg, REPO, kind)
    return cfg


def test_hype_plans_and_its_columns_are_mix_and_mflyt_inputs():
    cfg = _config()
    plan = plan_score(cfg, "hype")
    assert plan.inputs["model_file"]["path"] == "results/hyperbolic/hype/model.pt"
    assert plan.inputs["ref"]["set"] == "downstream" and plan.outputs == ("score", "neg_dist", "eps_i", "eps_t")
    # a real pool has no world sets; its downstream set (ImageNet-1k train) is the reference
    real = copy.deepcopy(cfg)
    real["pool"]["source"] = "datacomp"
    real["reference_sets"] = {"downstream": "/data/imagenet_train"}
    assert plan_score(real, "hype").inputs["ref"]["set"] == "downstream"
    assert cfg["mixes"]["hype_sum"]["inputs"] == ["hype:neg_dist", "hype:eps_i", "hype:eps_t"]
    check_score_columns(cfg)  # the hype_sum mix's references are declared columns
    mflyt = copy.deepcopy(cfg)
    mflyt["flyt"]["runs"]["mflyt"]["inputs"] = ["clip_score", "hype:neg_dist", "hype:eps_i", "hype:eps_t"]
    check_score_columns(mflyt)
    mflyt["flyt"]["runs"]["mflyt"]["inputs"].append("hype:eps_x")
    with pytest.raises(ConfigError, match=r"'hype:eps_x' reads column 'eps_x'.*hype:neg_dist"):
        check_score_columns(mflyt)
    bad = copy.deepcopy(cfg)
    bad["scores"]["hype"]["model"] = "dfn"
    with pytest.raises(Exception, match=r"scores.hype.model \('dfn'\) must be the hyperbolic CLIP's embedding model"):
        plan_score(bad, "hype")
    bad = copy.deepcopy(cfg)
    bad["scores"]["hype"]["hyperbolic"] = "nope"
    with pytest.raises(Exception, match=r"scores.hype.hyperbolic: unknown hyperbolic CLIP 'nope'"):
        plan_score(bad, "hype")


def test_hyperbolic_entries_are_checked_when_the_config_is_read():
    from clipcurate.train import trainers

    cfg = _config()
    t = trainers.get("train_hyperbolic")
    assert set(t.entries(cfg)) == {"hype"} and not t.gpu
    assert t.output_paths("hype")["model"] == "results/hyperbolic/hype/model.pt"
    config_check.validate_schema(cfg, REPO / "config" / "schema.yaml")
    bad = copy.deepcopy(cfg)
    bad["hyperbolic"]["hype"]["model"] = "nope"
    with pytest.raises(ConfigError, match=r"config: hyperbolic.hype.model: unknown model 'nope'"):
        trainers.check_config(bad)
    bad = copy.deepcopy(cfg)
    bad["hyperbolic"]["hype"]["dataset"] = "imagenet"
    with pytest.raises(ConfigError, match=r"config: hyperbolic.hype.dataset: unknown reference set 'imagenet'"):
        trainers.check_config(bad)
    bad = copy.deepcopy(cfg)
    del bad["hyperbolic"]["hype"]["steps"]
    with pytest.raises(ConfigError, match=r"hyperbolic.hype.*steps"):
        config_check.validate_schema(bad, REPO / "config" / "schema.yaml")
