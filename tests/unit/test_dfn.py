"""DFN pieces: training data with pool replacement, extra training data, the binary classifier,
and the data-quality experiment's config expansion."""

import io as _io
import json
import math
import tarfile
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
import webdataset as wds
from PIL import Image

from clipcurate.scores.helpers import classifier
from clipcurate.train import dfn
from clipcurate.core import fileio, poolindex, scorefiles
from clipcurate.pool import download as pool
from clipcurate.pool.reshard import extra_shards, reshard
from tests.conftest import hex_uid


def _jpeg(i):
    buf = _io.BytesIO()
    Image.new("RGB", (8, 8), (i % 255, 10, 20)).save(buf, "JPEG")
    return buf.getvalue()


def _write_tar(path, samples):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wds.TarWriter(str(path), mtime=0) as w:
        for key, txt, i in samples:
            w.write({"__key__": key, "jpg": _jpeg(i), "txt": txt.encode()})


@pytest.fixture()
def world(tmp_path):
    """A world with two reference sets and a pool of 30 samples in 3 shards, with its index."""
    w = tmp_path / "world"
    for name, n in (("hq", 20), ("downstream", 6)):
        d = w / "reference" / name
        _write_tar(d / "00000000.tar", [(f"{i:09d}", f"{name} {i}", i) for i in range(n)])
        (d / "meta.json").write_text(json.dumps({"num_samples": n}))
    shards = tmp_path / "shards"
    rows = []
    for s in range(3):
        samples = [(f"{s:05d}{j:04d}", f"pool {s * 10 + j}", 100 + s * 10 + j) for j in range(10)]
        _write_tar(pool.shard_path(shards, s), samples)
        rows += [{"uid": hex_uid(s * 10 + j), "shard": s, "key": k} for j, (k, _, _) in enumerate(samples)]
    index = tmp_path / "index.parquet"
    pool.write_index(pa.Table.from_pylist(rows), index)
    return w, shards, index


def _captions(out_dir):
    caps = []
    for tar in sorted(out_dir.glob("*.tar")):
        with tarfile.open(tar) as tf:
            caps += [tf.extractfile(m).read().decode() for m in tf.getmembers() if m.name.endswith(".txt")]
    return caps


def test_replace_with_pool_keeps_the_size_and_replaces_the_fraction(world, tmp_path):
    w, shards, index = world
    ref, n = dfn.reference_shards(w, "hq")
    meta = dfn.replace_with_pool(ref, index, shards, 0.25, seed=3, out_dir=tmp_path / "mix", shard_size=7)
    caps = _captions(tmp_path / "mix")
    assert meta["num_samples"] == n == len(caps) == 20 and meta["shards"] == 3
    kinds = Counter(c.split()[0] for c in caps)
    assert kinds == {"hq": 15, "pool": 5}
    assert len(set(caps)) == 20  # drawn without replacement
    again = dfn.replace_with_pool(ref, index, shards, 0.25, seed=3, out_dir=tmp_path / "mix2", shard_size=7)
    assert _captions(tmp_path / "mix2") == caps and again == meta
    dfn.replace_with_pool(ref, index, shards, 0.25, seed=4, out_dir=tmp_path / "mix3", shard_size=7)
    assert sorted(_captions(tmp_path / "mix3")) != sorted(caps)


@pytest.mark.parametrize("fraction, n_pool", [(0.0, 0), (1.0, 20), (0.5, 10)])
def test_replace_with_pool_extremes(world, tmp_path, fraction, n_pool):
    w, shards, index = world
    ref, _ = dfn.reference_shards(w, "hq")
    dfn.replace_with_pool(ref, index, shards, fraction, seed=0, out_dir=tmp_path / "mix")
    caps = _captions(tmp_path / "mix")
    assert sum(c.startswith("pool") for c in caps) == n_pool and len(caps) == 20


def test_replace_with_pool_needs_enough_pool(world, tmp_path):
    w, shards, index = world
    big = tmp_path / "big.tar"
    _write_tar(big, [(f"{i:09d}", f"hq {i}", i) for i in range(40)])
    with pytest.raises(dfn.DFNError, match="needs 40 pool samples"):
        dfn.replace_with_pool([big], index, shards, 1.0, seed=0, out_dir=tmp_path / "mix")


def test_reference_train_data_union_and_errors(world, tmp_path):
    w, shards, index = world
    files, n, info = dfn.reference_train_data(w, ["hq", "downstream"], tmp_path / "work")
    assert n == 26 and len(files) == 2 and info["datasets"] == ["hq", "downstream"]
    files, n, info = dfn.reference_train_data(w, "hq", tmp_path / "work", replace_fraction=0.5,
                                              pool_index=index, pool_shards=shards, seed=1)
    assert n == 20 and info["pool"] == 10 and all("replaced0.5_seed1" in str(f) for f in files)
    with pytest.raises(dfn.DFNError, match="no reference set 'cc12m'"):
        dfn.reference_train_data(w, "cc12m", tmp_path / "work")
    with pytest.raises(dfn.DFNError, match="single train.dataset"):
        dfn.reference_train_data(w, ["hq", "downstream"], tmp_path / "work", replace_fraction=0.5,
                                 pool_index=index, pool_shards=shards)


def test_reshard_adds_extra_data_once_spread_through_the_stream(world, tmp_path):
    w, shards, index = world
    uids = poolindex.read_index(index).column("uid")
    counts = np.array([2] * 10 + [0] * 10 + [1] * 10)
    scorefiles.write_subset(tmp_path / "sub.parquet", None, uids, counts)
    extra = extra_shards([w / "reference" / "downstream"])
    meta = reshard(tmp_path / "sub.parquet", index, shards, tmp_path / "out", shard_size=5, shuffle_buffer=2,
                   seed=0, extra_shards=extra)
    caps = _captions(tmp_path / "out")
    assert meta["output_count"] == len(caps) == 30 + 6 and meta["extra_count"] == 6
    assert Counter(c for c in caps if c.startswith("downstream")) == {f"downstream {i}": 1 for i in range(6)}
    where = [i for i, c in enumerate(caps) if c.startswith("downstream")]
    assert where[-1] - where[0] > 10  # spread through the stream, not appended as a block
    assert len(np.load(tmp_path / "out" / "sample_ids.npy")) == 30  # pool uids only
    # without extras, the output is what it was before the option existed (same rng draws)
    reshard(tmp_path / "sub.parquet", index, shards, tmp_path / "a", shard_size=5, shuffle_buffer=2, seed=0)
    reshard(tmp_path / "sub.parquet", index, shards, tmp_path / "b", shard_size=5, shuffle_buffer=2, seed=0, extra_shards=[])
    assert _captions(tmp_path / "a") == _captions(tmp_path / "b")
    with pytest.raises(fileio.ContractError, match="no webdataset shards"):
        extra_shards([tmp_path / "empty"])


def test_binary_classifier_matches_sklearn_logistic_regression(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    d = 8
    direction = rng.normal(size=d)
    pos = rng.normal(size=(300, d)) + 0.6 * direction
    neg = rng.normal(size=(2000, d)) - 0.6 * direction  # unbalanced, as a small HQ set vs a pool
    clf = classifier.train_binary_classifier(pos, neg, steps=600, batch_size=64, lr=0.05, warmup=20, seed=0)
    ref = LogisticRegression(class_weight="balanced").fit(np.vstack([pos, neg]), np.r_[np.ones(300), np.zeros(2000)])
    cos = clf["weight"] @ ref.coef_[0] / np.linalg.norm(clf["weight"]) / np.linalg.norm(ref.coef_[0])
    assert cos > 0.98
    test = rng.normal(size=(500, d)) * 2
    ours = test @ clf["weight"] + clf["bias"] > 0
    theirs = ref.decision_function(test) > 0
    assert (ours == theirs).mean() > 0.95
    assert clf["train_accuracy"]["balanced"] > 0.85
    # saved and scored through the file: logits are x @ w + b over the configured features
    emb = {"image": test[:, :4].astype(np.float32), "text": test[:, 4:].astype(np.float32)}
    classifier.save_classifier(tmp_path / "c.pt", clf, "image_text", {"note": "test"})
    logits = classifier.classifier_logits(tmp_path / "c.pt", emb)
    np.testing.assert_allclose(logits, test @ clf["weight"] + clf["bias"], rtol=1e-4, atol=1e-4)
    out = classifier.binary_classifier_score({}, emb=emb, classifier=str(tmp_path / "c.pt"))
    np.testing.assert_array_equal(out["score"], logits)
    with pytest.raises(fileio.ContractError, match="expects 8 features"):
        classifier.classifier_logits(tmp_path / "c.pt", {"image": emb["image"], "text": emb["text"][:, :2]})


def test_expand_quality_experiment():
    models = {"base": {"arch": "tiny-clip", "pretrained": None, "train": {"dataset": "hq", "samples_seen": 10}}}
    out = dfn.expand_quality_experiment({"base": "base", "replaced": [0.0, 0.25], "seeds": [0, 2], "fraction": 0.3}, models, 0)
    assert [p["name"] for p in out["points"]] == ["dfn_q000_s0", "dfn_q025_s0", "dfn_q000_s2", "dfn_q025_s2"]
    m = out["models"]["dfn_q025_s2"]
    assert m["train"] == {"dataset": "hq", "samples_seen": 10, "replace_with_pool": 0.25, "seed": 2}
    assert models["base"]["train"] == {"dataset": "hq", "samples_seen": 10}  # the base is not modified
    assert out["scores"]["dfn_q025_s2"] == {"method": "clip_score", "model": "dfn_q025_s2"}
    assert out["recipes"]["dfn_q025_s2_top30"]["sample"] == {"method": "threshold", "fraction": 0.3}
    # with the base's own recipe, the 0% point at the base's seed is the base itself (no duplicate training)
    out = dfn.expand_quality_experiment({"base": "base", "replaced": [0.0, 0.5], "seeds": [0, 1], "fraction": 0.3,
                                         "base_recipe": "base_top30"}, models, 0, {"base_top30": {}})
    assert out["points"][0] == {"name": "dfn_q000_s0", "label": "0% of HQ replaced", "kind": "replaced", "replaced": 0.0,
                                "seed": 0, "model": "base", "recipe": "base_top30"}
    assert sorted(out["models"]) == ["dfn_q000_s1", "dfn_q050_s0", "dfn_q050_s1"]
    with pytest.raises(dfn.DFNError, match="base_recipe: unknown recipe 'x'"):
        dfn.expand_quality_experiment({"base": "base", "replaced": [0.0], "fraction": 0.3, "base_recipe": "x"}, models, 0, {})
    with pytest.raises(dfn.DFNError, match="unknown model 'nope'"):
        dfn.expand_quality_experiment({"base": "nope", "replaced": [0.0], "fraction": 0.3}, models, 0)


def test_quality_points_and_plot(tmp_path, drawn):
    points = [{"name": "a", "replaced": 0.0, "seed": 0, "model": "a", "recipe": "a_top30"},
              {"name": "b", "replaced": 1.0, "seed": 0, "model": "b", "recipe": "b_top30"}]
    rows = dfn.quality_points(points, {"a": 0.3, "b": 0.5}, {"a_top30": 0.4, "b_top30": 0.2})
    assert {k: rows[1][k] for k in ("name", "replaced", "seed", "dfn_imagenet", "subset_imagenet", "recipe")} == \
        {"name": "b", "replaced": 1.0, "seed": 0, "dfn_imagenet": 0.5, "subset_imagenet": 0.2, "recipe": "b_top30"}
    assert rows[1]["method"] == "b (seed 0)" and math.isnan(rows[1]["dfn_imagenet_se"])
    fig = dfn.plot_quality(rows, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert all(c.has_xerr is False and c.has_yerr is False for c in fig.axes[0].containers)  # no SE: no bars


def test_quality_experiment_train_overrides_and_variants():
    models = {"base": {"arch": "tiny-clip", "pretrained": None, "train": {"dataset": "hq", "samples_seen": 10}}}
    block = {"base": "base", "replaced": [0.0, 1.0], "seeds": [0], "fraction": 0.3, "train": {"samples_seen": 40},
             "variants": [{"name": "small", "label": "clean, half", "train": {"subsample": 0.5}},
                          {"name": "long", "label": "noisy, longer", "replaced": 0.5, "train": {"samples_seen": 120}}]}
    out = dfn.expand_quality_experiment(block, models, 0)
    assert [p["name"] for p in out["points"]] == ["dfn_q000_s0", "dfn_q100_s0", "dfn_small_s0", "dfn_long_s0"]
    assert [p["kind"] for p in out["points"]] == ["replaced", "replaced", "variant", "variant"]
    assert out["models"]["dfn_q000_s0"]["train"] == {"dataset": "hq", "samples_seen": 40, "replace_with_pool": 0.0, "seed": 0}
    assert out["models"]["dfn_small_s0"]["train"] == {"dataset": "hq", "samples_seen": 40, "subsample": 0.5,
                                                      "replace_with_pool": 0.0, "seed": 0}
    assert out["models"]["dfn_long_s0"]["train"]["samples_seen"] == 120
    assert out["models"]["dfn_long_s0"]["train"]["replace_with_pool"] == 0.5
    assert out["recipes"]["dfn_long_s0_top30"]["label"] == "DFN, noisy, longer (seed 0)"
    assert dfn.uses_pool(out["models"]["dfn_long_s0"]["train"]) and not dfn.uses_pool(out["models"]["dfn_small_s0"]["train"])
    with pytest.raises(dfn.DFNError, match="drop base_recipe"):
        dfn.expand_quality_experiment({**block, "base_recipe": "r"}, models, 0, {"r": {}})
    with pytest.raises(dfn.DFNError, match="'small' appears twice"):
        dfn.expand_quality_experiment({**block, "variants": block["variants"][:1] * 2}, models, 0)


def test_subsample_and_add_from_pool(world, tmp_path):
    w, shards, index = world
    ref, _ = dfn.reference_shards(w, "hq")
    meta = dfn.replace_with_pool(ref, None, None, 0.0, seed=1, out_dir=tmp_path / "half", keep=0.5)
    caps = _captions(tmp_path / "half")
    assert meta["num_samples"] == len(caps) == 10 and all(c.startswith("hq") for c in caps) and len(set(caps)) == 10
    meta = dfn.replace_with_pool(ref, index, shards, 0.25, seed=1, out_dir=tmp_path / "big", add=0.5)
    kinds = Counter(c.split()[0] for c in _captions(tmp_path / "big"))
    assert kinds == {"hq": 15, "pool": 5 + 10} and meta["num_samples"] == 30 and meta["pool"] == 15
    with pytest.raises(dfn.DFNError, match="needs 40 pool samples"):
        dfn.replace_with_pool(ref, index, shards, 0.5, seed=1, out_dir=tmp_path / "x", add=1.5)
    files, n, info = dfn.train_data({"dataset": "hq", "subsample": 0.5, "add_from_pool": 1.0}, w, tmp_path / "work",
                                    index, shards, seed=2)
    assert n == 20 and info["pool"] == 10 and "keep0.5_add1" in str(files[0])


def test_quality_plot_has_error_bars_both_ways(tmp_path):
    rows = [
        {"method": "0% of HQ replaced (seed 0)", "name": "dfn_q000_s0", "kind": "replaced", "replaced": 0.0, "seed": 0,
         "dfn_imagenet": 0.3, "dfn_imagenet_se": 0.02, "subset_imagenet": 0.4, "subset_imagenet_se": 0.03, "recipe": "a"},
        {"method": "noisy (seed 0)", "name": "dfn_noisy_s0", "kind": "variant", "replaced": 0.5, "seed": 0,
         "dfn_imagenet": 0.5, "dfn_imagenet_se": 0.01, "subset_imagenet": 0.2, "subset_imagenet_se": 0.04, "recipe": "b"},
    ]
    fig = dfn.plot_quality(rows, tmp_path / "f.png")
    ax = fig.axes[0]
    got = {}
    for c in ax.containers:
        (x, y), = c.lines[0].get_xydata()
        xseg, yseg = [lc.get_segments()[0] for lc in c.lines[2]]  # x error bar, then y error bar
        got[c.get_label()] = (x, y, (xseg[1][0] - xseg[0][0]) / 2, (yseg[1][1] - yseg[0][1]) / 2)
    assert got["0% of HQ replaced"] == pytest.approx((0.3, 0.4, 0.02, 0.03))
    assert got["noisy"] == pytest.approx((0.5, 0.2, 0.01, 0.04))


def test_binary_classifier_method_is_planned_from_its_declaration(tmp_path):
    """Registered through the method contract: the classifier file is an input, the model is checked."""
    from clipcurate.scores import get
    from clipcurate.scores.plan import PlanError, plan_score, score_files

    config = {
        "pool": {"source": "world"},
        "models": {"openai": {"arch": "a"}, "dfn": {"arch": "a"}},
        "classifiers": {"hq_vs_pool": {"model": "openai", "positive": "hq"}},
        "scores": {"hq_classifier": {"method": "binary_classifier", "model": "openai", "classifier": "hq_vs_pool"}},
        "mixes": {},
    }
    files = score_files(plan_score(config, "hq_classifier"), chunk="00000")
    assert files["classifier"] == "results/classifiers/hq_vs_pool/classifier.pt"
    assert files["emb"] == "results/embeddings/openai/00000.parquet"
    bad = {**config, "scores": {"c": {"method": "binary_classifier", "model": "dfn", "classifier": "hq_vs_pool"}}}
    with pytest.raises((PlanError, ValueError), match="classifiers.hq_vs_pool.model"):
        plan_score(bad, "c")
    bad = {**config, "scores": {"c": {"method": "binary_classifier", "model": "openai", "classifier": "nope"}}}
    with pytest.raises((PlanError, ValueError), match="nope"):
        plan_score(bad, "c")
    # the registered function scores through the trained file
    clf = {"weight": np.arange(4, dtype=np.float32), "bias": 0.5}
    classifier.save_classifier(tmp_path / "c.pt", clf, "image_text", {})
    emb = {"image": np.eye(2, dtype=np.float32), "text": np.ones((2, 2), np.float32)}
    out = get("binary_classifier").func({}, emb=emb, classifier=str(tmp_path / "c.pt"))
    np.testing.assert_allclose(out["score"], [0 + 2 + 3 + 0.5, 1 + 2 + 3 + 0.5])


def test_a_users_shard_folder_is_a_reference_set(world, tmp_path):
    """At real scale a set is a folder of img2dataset shards (no meta.json): its size comes from
    img2dataset's stats files, else from counting the images in the shards."""
    w, _, _ = world
    user = tmp_path / "cc12m"
    user.mkdir()
    _write_tar(user / "00000.tar", [(f"{i:04d}", "a photo", i) for i in range(5)])
    _write_tar(user / "00001.tar", [(f"{i:04d}", "a photo", i) for i in range(5, 8)])
    shards, n = dfn.reference_shards({"hq": str(user)}, "hq")
    assert [s.name for s in shards] == ["00000.tar", "00001.tar"] and n == 8  # counted
    (user / "00000_stats.json").write_text(json.dumps({"successes": 5}))
    (user / "00001_stats.json").write_text(json.dumps({"successes": 3}))
    assert dfn.reference_shards({"hq": str(user)}, "hq")[1] == 8  # from the stats
    files, total, info = dfn.reference_train_data({"hq": str(user), "downstream": f"{w}/reference/downstream"},
                                                  ["hq", "downstream"], tmp_path / "work")
    assert total == 8 + dfn.reference_shards(w, "downstream")[1] and info["datasets"] == ["hq", "downstream"]
    with pytest.raises(dfn.DFNError, match=r"unknown reference set 'cc3m'; known sets: \['hq'\]"):
        dfn.reference_shards({"hq": str(user)}, "cc3m")
