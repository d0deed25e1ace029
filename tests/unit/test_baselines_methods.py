"""DataComp's baselines as registered methods: declarations, planning checks, and each method on
crafted inputs against hand-computed or brute-force keeps; one filter end to end through the runner."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from clipcurate.core import fileio, uidcodec
from clipcurate.scores.helpers import wordnet as W
from tests.required import needs
from clipcurate.scores import get
from clipcurate.scores.inputs import Embeddings, Metadata, Reference, Scores
from clipcurate.scores.plan import PlanError, plan_score, score_files
from clipcurate.scores.runner import run_score
from clipcurate.scores.stages import Prepared, StageContext

EN = "a photo of a dog on the grass"
FR = "une photo d'un chien sur l'herbe verte"


def meta(texts, w=None, h=None):
    cols = {"text": pa.array(texts, pa.string())}
    if w is not None:
        cols["original_width"] = pa.array(w, pa.int64())
        cols["original_height"] = pa.array(h, pa.int64())
    return pa.table(cols)


def params(name, **kw):
    return {**get(name).defaults, **kw}


def test_declarations():
    assert get("basic").level == "chunk" and get("basic").outputs == ("keep",)
    assert isinstance(get("basic").inputs["meta"], Metadata)
    assert get("text_based").inputs["meta"].columns == ("text",)
    im = get("image_based")
    assert im.level == "chunk" and im.stages.names() == ("prepare", "fit", "apply", "gather")
    assert isinstance(im.inputs["emb"], Embeddings) and isinstance(im.inputs["ref"], Reference)
    assert im.inputs["emb"].modalities == ("image",)  # the text embeddings are never read
    assert im.inputs["ref"].set == "downstream"
    assert isinstance(get("laion").inputs["clip"], Scores) and get("laion").defaults["threshold"] == 0.28
    assert get("intersect_keeps").outputs == ("keep",)


def test_basic_method_thresholds():
    texts = [EN, EN, EN, EN, FR, "a dog", "dog on grass"]
    w = [200, 199, 600, 601, 300, 300, 300]
    h = [300, 300, 200, 200, 300, 300, 300]
    # in; min side 199; aspect 3.0 in; aspect 3.005; French; 2 words; 3 words + 12 chars in
    out = get("basic").func(params("basic"), meta(texts, w, h))
    assert out["keep"].tolist() == [True, False, True, False, False, False, True]
    scaled = get("basic").func(params("basic", min_side=16), meta([EN, EN], [16, 15], [16, 40]))
    assert scaled["keep"].tolist() == [True, False]


@needs("wordnet", W.available(), "no WordNet database (install Debian's wordnet-base)")
def test_text_based_method(tmp_path):
    wn = W.open_wordnet()
    ids = tmp_path / "wnids.txt"
    ids.write_text(W.wnid(wn.synsets("dog")[0].offset()) + "\n")
    texts = [EN, FR, "a photo of a cat on the grass", "a photo of a dog.", "Dogs playing in the park today"]
    out = get("text_based").func(params("text_based", wnids=str(ids)), meta(texts))
    assert out["keep"].tolist() == [True, False, False, False, True]
    # the tiny world's stand-in: its shape class names
    out = get("text_based").func(params("text_based"), meta(["two red circles at the top", "deux cercles rouges",
                                                             "a photo of a dog", "three green hexagons"]))
    assert out["keep"].tolist() == [True, False, False, True]


def test_image_based_method_against_brute_force():
    rng = np.random.default_rng(3)
    n, d = 600, 8
    img = rng.normal(size=(n, d)).astype(np.float32)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    ref = img[:5] + 0.01  # downstream images near five pool images
    texts = [EN if i % 7 else FR for i in range(n)]
    texts[1] = "dog"  # one token: fails the caption pre-filter
    p = params("image_based", centroids=20, niter=10)
    m, emb = get("image_based"), {"uid": [f"{i:032x}" for i in range(n)], "image": img}
    # the three stages in memory, on one chunk (tests/unit/test_stages.py runs them as jobs over chunks)
    prep = m.stages.prepare(p, StageContext("prepare", chunk=0), emb=emb, meta=meta(texts))
    fitted = m.stages.fit(p, StageContext("fit"), Prepared([prep]), ref={"image": ref, "text": ref, "label": None})
    out = m.func(p, StageContext("apply", chunk=0), fitted=fitted, prepared=prep, emb=emb)
    from clipcurate.scores.helpers import datacomp_filters as F

    pre = np.array([i % 7 != 0 and i != 1 for i in range(n)])
    c = F.train_centroids(img[pre], 20, niter=10, seed=0)
    target = np.unique(np.argmax(ref @ c.T, axis=1))
    expected = pre & np.isin(np.argmax(img @ c.T, axis=1), target)
    assert np.array_equal(out["keep"], expected)
    assert out["keep"][[0, 2, 3, 4]].tolist() == [False, True, True, True]  # 0 is French; 2-4 are near ref


def test_clip_threshold_and_laion_methods():
    s = np.array([0.30, 0.28, np.nextafter(np.float32(0.28), np.float32(0)), 0.5, 0.1], dtype=np.float32)
    out = get("clip_threshold").func(params("clip_threshold", fraction=0.4), {"clip_score": s})
    # n = int(5 * 0.4) = 2: threshold = third largest = 0.28 -> keeps 0.5, 0.30, 0.28
    assert out["keep"].tolist() == [True, True, False, True, False]
    texts = [EN, FR, EN, EN, EN]
    out = get("laion").func(params("laion"), {"clip_score": s}, meta(texts))
    # >= 0.28 (float32 0.28 itself kept, the next float below not) and English
    assert out["keep"].tolist() == [True, False, False, True, False]
    np.testing.assert_array_equal(out["score"], s)


def test_intersect_keeps_method():
    a, b = np.array([True, True, False, False]), np.array([True, False, True, False])
    assert get("intersect_keeps").func({}, {"x:keep": a, "y:keep": b})["keep"].tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="boolean"):
        get("intersect_keeps").func({}, {"x:keep": a, "y:score": b.astype(np.float32)})


CONFIG = {
    "pool": {"source": "world"},
    "models": {"m": {"arch": "x"}},
    "scores": {
        "clip": {"method": "clip_score", "model": "m"},
        "basic": {"method": "basic", "params": {"min_side": 16}},
        "text": {"method": "text_based"},
        "img": {"method": "image_based", "model": "m", "params": {"centroids": 4}},
        "top": {"method": "clip_threshold", "input": "clip", "params": {"fraction": 0.3}},
        "laion": {"method": "laion", "input": "clip", "params": {"threshold": None, "fraction": 0.1}},
        "both": {"method": "intersect_keeps", "inputs": ["img:keep", "top:keep"]},
    },
    "mixes": {},
}


def _config(**changes):
    import copy

    c = copy.deepcopy(CONFIG)
    for name, entry in changes.items():
        c["scores"][name] = entry
    return c


def test_plans():
    assert plan_score(CONFIG, "img").inputs["ref"] == {"kind": "reference", "model": "m", "set": "downstream", "modalities": ["image"]}
    assert plan_score(CONFIG, "both").inputs["filters"]["refs"][0][0] == "img:keep"
    assert plan_score(CONFIG, "basic").params["min_side"] == 16


@pytest.mark.parametrize("name,entry,match", [
    ("top", {"method": "clip_threshold", "input": "clip", "params": {}}, "exactly one of threshold and fraction"),
    ("top", {"method": "clip_threshold", "input": "clip", "params": {"fraction": 1.5}}, r"fraction: expected"),
    ("laion", {"method": "laion", "input": "clip", "params": {"fraction": 0.1}}, "threshold: null"),
    ("both", {"method": "intersect_keeps", "inputs": ["img:keep", "top"]}, "name:keep"),
    ("text", {"method": "text_based", "params": {"wnids": "a", "classnames": "b"}}, "not both"),
    ("basic", {"method": "basic", "params": {"min_size": 16}}, "unknown parameter"),
])
def test_plan_errors_name_the_key(name, entry, match):
    with pytest.raises(PlanError, match=match):
        plan_score(_config(**{name: entry}), name)


def test_text_based_needs_a_class_list_at_real_scale():
    c = _config()
    c["pool"] = {"source": "datacomp"}
    c["reference_sets"] = {"downstream": "imagenet"}
    with pytest.raises(PlanError, match=r"scores.text.params.wnids"):
        plan_score(c, "text")


def test_basic_end_to_end_through_the_runner(tmp_path, monkeypatch):
    """The basic filter planned from config and run by the one runner on a crafted chunk."""
    monkeypatch.chdir(tmp_path)
    uids = pa.array([f"{i:032x}" for i in range(1, 5)], pa.string())
    keys = ["000000000", "000000001", "000000002", "000000003"]
    fileio.write_table(pa.table({"uid": uids, "shard": pa.array([0] * 4, pa.int32()), "key": pa.array(keys),
                                 "chunk": pa.array([0] * 4, pa.int32())}), "results/pool/index.parquet",
                       fingerprint=uidcodec.uid_fingerprint(uids))
    fileio.write_table(pa.table({"key": keys[::-1], "caption": [EN, FR, "a b", EN][::-1],
                                 "original_width": pa.array([64, 64, 64, 12], pa.int32())[::-1],
                                 "original_height": pa.array([64, 64, 64, 12], pa.int32())[::-1]}),
                       "results/pool/shards/00000000.parquet")
    plan = plan_score(CONFIG, "basic")
    run_score(plan.to_dict(), score_files(plan, chunk="00000"), "results/scores/basic/00000.parquet", chunk=0)
    t = pa.parquet.read_table("results/scores/basic/00000.parquet")
    assert t.column("uid").to_pylist() == uids.to_pylist()
    assert t.column("keep").to_pylist() == [True, False, False, False]  # French; 2 words; 12 px
