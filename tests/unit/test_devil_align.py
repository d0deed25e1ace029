"""Distribution alignment of the Devil paper: CIDS and quality-based duplication.

Against independent computations: importance weights against a direct count per cluster, the drawn
cluster shares against the downstream shares within binomial error, hand-computed duplication
counts (ties, tiny clusters, dropped rows), and the staged jobs (prepare / fit / apply / group /
gather on files, as the rules run them) against a plain in-memory computation.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.scores.helpers import alignment as A
from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.scores import get
from clipcurate.scores.plan import PlanError, plan_score
from clipcurate.scores.stages import (read_arrays, run_apply, run_fit, run_gather, run_group, run_prepare, stage_files,
                                      stage_path)

N_CHUNKS, PER_CHUNK, D, K = 3, 400, 16, 6


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """Six well-separated image classes over three chunks; downstream images of classes 0-2 only, in
    shares 1/2, 1/3, 1/6; a base keep that drops every 7th row; a quality score."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    n = N_CHUNKS * PER_CHUNK
    centers = unit(rng.normal(size=(K, D)) * 3)
    cls = rng.integers(0, K, size=n)
    img = unit(centers[cls] + 0.05 * rng.normal(size=(n, D)))
    uids = [f"{i + 1:032x}" for i in range(n)]
    chunk = np.arange(n) // PER_CHUNK
    fp = uidcodec.uid_fingerprint(pa.array(uids))
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array(chunk, pa.int32()),
                                 "key": pa.array([f"k{i}" for i in range(n)]), "chunk": pa.array(chunk, pa.int32())}),
                       "results/pool/index.parquet", fingerprint=fp)
    Path("results/embeddings/m").mkdir(parents=True)
    for c in range(N_CHUNKS):
        r = np.flatnonzero(chunk == c)
        pq.write_table(pa.table({"uid": pa.array([uids[i] for i in r]),
                                 "image": pa.FixedSizeListArray.from_arrays(pa.array(img[r].reshape(-1)), D)}),
                       f"results/embeddings/m/{c:05d}.parquet", row_group_size=150)
    ref_cls = np.repeat([0, 1, 2], [30, 20, 10])
    ref = unit(centers[ref_cls] + 0.05 * rng.normal(size=(len(ref_cls), D)))
    fileio.write_table(pa.table({"key": pa.array([f"r{i}" for i in range(len(ref))]),
                                 "image": pa.FixedSizeListArray.from_arrays(pa.array(ref.reshape(-1)), D)}),
                       "results/reference_embeddings/m/downstream.parquet")
    keep = np.arange(n) % 7 != 3
    quality = np.round(rng.normal(size=n), 1).astype(np.float32)  # rounded: many ties
    scorefiles.write_scores("results/scores/base.parquet", pa.array(uids), {"keep": keep}, fingerprint=fp)
    scorefiles.write_scores("results/scores/hflip.parquet", pa.array(uids), {"score": quality}, fingerprint=fp)
    return {"img": img, "cls": cls, "ref": ref, "ref_cls": ref_cls, "keep": keep, "quality": quality, "uids": uids}


CONFIG = {"pool": {"source": "world"}, "models": {"m": {"arch": "x"}},
          "scores": {"base": {"method": "basic"}, "hflip": {"method": "clip_score", "model": "m"}},
          "mixes": {}}
CHUNKS = [f"{c:05d}" for c in range(N_CHUNKS)]


def run_staged(name, entry):
    """Every job of a staged score in the workflow's order, on the files the rules pass."""
    config = copy.deepcopy(CONFIG)
    config["scores"][name] = entry
    plan = plan_score(config, name).to_dict()
    stages = get(entry["method"]).stages.names()
    for c in CHUNKS:
        run_prepare(plan, stage_files(plan, "prepare", chunk=c), stage_path(name, "prepare", c), int(c))
    run_fit(plan, stage_files(plan, "fit", chunks=CHUNKS), stage_path(name, "fit"))
    for c in CHUNKS:
        run_apply(plan, stage_files(plan, "apply", chunk=c), stage_path(name, "apply", c), int(c))
    if "group" in stages:
        for s in range(int(plan["params"]["group_shards"])):
            run_group(plan, stage_files(plan, "group", chunks=CHUNKS), stage_path(name, "group", s), s)
    run_gather(plan, stage_files(plan, "gather", chunks=CHUNKS), stage_path(name, "gather"))
    return scorefiles.read_scores(stage_path(name, "gather"), "results/pool/index.parquet")


# --------------------------------------------------------------------------------------------
# CIDS: pure parts


def test_importance_is_the_ratio_of_shares_on_a_hand_case():
    # pool 50/30/20 (shares .5 .3 .2), downstream 1/3/0 (shares .25 .75 0): 0.5, 2.5, 0
    np.testing.assert_allclose(A.cluster_importance([50, 30, 20], [1, 3, 0]), [0.5, 2.5, 0.0])
    # a downstream image in a cluster without pool samples: its share goes to the others; that cluster is 0
    np.testing.assert_allclose(A.cluster_importance([50, 50, 0], [1, 1, 2]), [1.0, 1.0, 0.0])
    # smoothing: (r + 1) -> 2/7, 4/7, 1/7 over .5 .3 .2
    np.testing.assert_allclose(A.cluster_importance([50, 30, 20], [1, 3, 0], smoothing=1.0),
                               [2 / 7 / 0.5, 4 / 7 / 0.3, 1 / 7 / 0.2])
    with pytest.raises(A.AlignmentError, match="no downstream image falls into a cluster"):
        A.cluster_importance([5, 0], [0, 3])


def test_draw_rates_give_each_cluster_its_downstream_share_of_the_target():
    p = np.array([50.0, 30.0, 20.0])
    w = A.cluster_importance(p, [1, 3, 0])
    rates = A.draw_rates(p, w, 1000)
    np.testing.assert_allclose(rates * p, [250, 750, 0])  # expected draws per cluster = target x downstream share


@pytest.mark.parametrize("replace", [True, False])
def test_drawn_cluster_shares_match_the_target_within_sampling_error(replace):
    # 200,000 rows in 4 clusters of pool shares .4 .3 .2 .1, downstream shares .1 .2 .3 .4; target 20,000
    p = np.array([80_000, 60_000, 40_000, 20_000])
    target_share = np.array([0.1, 0.2, 0.3, 0.4])
    rates = A.draw_rates(p, A.cluster_importance(p, target_share * 60), 20_000)
    labels = np.repeat(np.arange(4), p)
    counts = np.zeros(len(labels), np.uint32)
    for c, lo in enumerate(range(0, len(labels), 50_000)):  # drawn per chunk, each with its own seed
        counts[lo:lo + 50_000] = A.draw_counts(rates[labels[lo:lo + 50_000]], replace, np.random.default_rng([0, c, 1]))
    total = counts.sum()
    assert abs(int(total) - 20_000) < 5 * np.sqrt(20_000)  # Poisson(20,000) total
    shares = np.bincount(labels, weights=counts, minlength=4) / total
    sigma = np.sqrt(target_share * (1 - target_share) / total)
    assert (np.abs(shares - target_share) < 5 * sigma).all(), (shares, sigma)
    if not replace:
        assert counts.max() == 1


def test_base_counts_accepts_keep_and_count_only():
    assert A.base_counts(np.array([True, False])).tolist() == [1, 0]
    assert A.base_counts(np.array([0, 3], np.uint32)).tolist() == [0, 3]
    with pytest.raises(A.AlignmentError, match=r"keep \(bool\) or count \(integer\)"):
        A.base_counts(np.array([0.5, 1.0], np.float32))


# --------------------------------------------------------------------------------------------
# CIDS: the staged method


def test_cids_staged_weights_equal_a_direct_count(pool):
    entry = {"method": "cids", "model": "m", "base": "base:keep",
             "params": {"centroids": K, "niter": 20, "n_target": 900, "seed": 3}}
    got = run_staged("cids", entry)
    fitted = read_arrays(stage_path("cids", "fit"))
    c = fitted["centroids"]
    # direct count: assign every kept pool row and every downstream image to the fitted centroids
    lab = np.argmax(pool["img"] @ c.T, axis=1)
    pool_counts = np.bincount(lab[pool["keep"]], minlength=K)
    ref_counts = np.bincount(np.argmax(pool["ref"] @ c.T, axis=1), minlength=K)
    np.testing.assert_allclose(fitted["pool_counts"], pool_counts)
    np.testing.assert_allclose(fitted["ref_counts"], ref_counts)
    direct = (ref_counts / ref_counts.sum()) / (pool_counts / pool_counts.sum())
    np.testing.assert_allclose(fitted["importance"], direct, rtol=1e-9)
    # the downstream images are of three classes: at least half the clusters hold none of them
    assert (fitted["importance"] == 0).sum() >= 3
    # outputs: counts only on kept rows of important clusters; keep = count > 0; score = importance
    assert (got["count"][~pool["keep"]] == 0).all()
    assert np.array_equal(got["keep"], got["count"] > 0)
    np.testing.assert_allclose(got["score"][pool["keep"]], direct[lab[pool["keep"]]], rtol=1e-6)
    total = int(got["count"].sum())
    assert abs(total - 900) < 5 * np.sqrt(900)
    # the drawn set's shares over the clusters are the downstream set's
    drawn = np.bincount(lab, weights=got["count"], minlength=K) / total
    want = ref_counts / ref_counts.sum()
    assert (np.abs(drawn - want) < 5 * np.sqrt(want * (1 - want) / total) + 1e-12).all(), drawn
    # deterministic from the seed
    again = run_staged("cids", entry)
    assert np.array_equal(again["count"], got["count"])


def test_cids_without_replacement_writes_keep_and_caps_clusters(pool):
    got = run_staged("cids", {"method": "cids", "model": "m", "base": "base:keep",
                              "params": {"centroids": K, "fraction": 0.5, "replace": False}})
    assert got["count"].max() == 1
    # 600 draws asked; the three target clusters hold ~514 survivors and class 0 asks 300 of ~170: capped
    assert got["keep"].sum() < 600
    assert got["keep"][np.isin(pool["cls"], [3, 4, 5])].sum() == 0


@pytest.mark.parametrize("params, message", [
    ({"n_target": 10, "fraction": 0.2}, "not both"),
    ({"fraction": None}, "n_target"),
    ({"replace": "yes"}, "replace"),
    ({"smoothing": -1}, "smoothing"),
    ({"centroids": 0}, "centroids"),
])
def test_cids_config_errors_name_the_key(params, message):
    config = copy.deepcopy(CONFIG)
    config["scores"]["c"] = {"method": "cids", "model": "m", "base": "base:keep", "params": params}
    with pytest.raises(PlanError, match=rf"scores\.c\.params.*{message}"):
        plan_score(config, "c")


@pytest.mark.parametrize("base, message", [
    ("hflip", r"names the column 'score'; the previous stage is a 'keep' or 'count' column"),
    ("hflip:keep", r"score 'hflip' \(method 'clip_score'\) has no 'keep' column"),
    (["base:keep", "hflip:keep"], "name exactly one"),
])
def test_the_base_must_be_one_keep_or_count_column_at_planning_time(base, message):
    for method, extra in (("cids", {}), ("quality_dup", {"quality": "hflip"})):
        config = copy.deepcopy(CONFIG)
        config["scores"]["c"] = {"method": method, "model": "m", "base": base, **extra}
        with pytest.raises(PlanError, match=rf"scores\.c\.base: .*{message}"):
            plan_score(config, "c")


def test_cids_needs_a_base():
    config = copy.deepcopy(CONFIG)
    config["scores"]["c"] = {"method": "cids", "model": "m"}
    with pytest.raises(PlanError, match=r"scores\.c\.base: required by method 'cids'"):
        plan_score(config, "c")


# --------------------------------------------------------------------------------------------
# quality-based duplication


def test_quality_counts_hand_computed_with_ties_and_dropped_rows():
    q = [0.9, 0.5, 0.5, 0.7, 0.5, 0.95]
    base = [1, 1, 1, 1, 1, 0]  # the last (best) row was dropped by the previous stage
    rows = [10, 11, 12, 13, 14, 15]
    # five survivors, top 0.5 -> round(2.5) = 3: 0.9 (row 10), 0.7 (row 13), then the tie at 0.5 -> row 11 first
    assert A.quality_counts(q, base, rows, 1, 2, 0.5).tolist() == [2, 2, 1, 2, 1, 0]
    assert A.quality_counts(q, base, rows, 1, 3, 0.5).tolist() == [3, 3, 1, 3, 1, 0]
    # tie order follows pool rows, not position in the call
    assert A.quality_counts(q, base, [10, 14, 12, 13, 11, 15], 1, 2, 0.5).tolist() == [2, 1, 1, 2, 2, 0]
    # a base count multiplies
    assert A.quality_counts([0.1, 0.2], [2, 1], [0, 1], 1, 3, 0.5).tolist() == [2, 3]


@pytest.mark.parametrize("n, frac, top", [(1, 0.5, 1), (1, 0.49, 0), (2, 0.25, 1), (3, 0.5, 2), (4, 0.5, 2), (7, 0.0, 0), (7, 1.0, 7)])
def test_tiny_clusters_top_part(n, frac, top):
    assert A.top_count(n, frac) == top
    counts = A.quality_counts(np.arange(n, dtype=float), np.ones(n, np.uint32), np.arange(n), 1, 2, frac)
    assert (counts == 2).sum() == top and (counts == 1).sum() == n - top


def _quality_reference(pool, centroids, w1, w2, frac):
    """The same over all rows at once: a plain group-by on the centroids' assignment."""
    lab = np.argmax(pool["img"] @ centroids.T, axis=1)
    out = np.zeros(len(lab), np.uint32)
    for g in np.unique(lab[pool["keep"]]):
        rows = np.flatnonzero((lab == g) & pool["keep"])
        order = sorted(rows, key=lambda r: (-float(pool["quality"][r]), r))
        k = int(np.floor(frac * len(rows) + 0.5))
        out[order[:k]] = w2
        out[order[k:]] = w1
    return out


@pytest.mark.parametrize("shards", [1, 4])
def test_quality_dup_staged_equals_the_in_memory_group_by(pool, shards):
    got = run_staged("qd", {"method": "quality_dup", "model": "m", "quality": "hflip", "base": "base:keep",
                            "params": {"centroids": K, "w1": 1, "w2": 3, "top_fraction": 0.3, "group_shards": shards}})
    c = read_arrays(stage_path("qd", "fit"))["centroids"]
    want = _quality_reference(pool, c, 1, 3, 0.3)
    assert got["count"].dtype == np.uint32
    assert np.array_equal(got["count"], want)
    assert (got["count"][~pool["keep"]] == 0).all() and set(np.unique(got["count"])) == {0, 1, 3}


def test_quality_dup_reuses_cids_clusters_through_its_artifact(pool):
    run_staged("cids", {"method": "cids", "model": "m", "base": "base:keep", "params": {"centroids": K}})
    entry = {"method": "quality_dup", "model": "m", "quality": "hflip", "base": "cids:count",
             "params": {"centroids_file": "results/scores/cids/fit.npz", "group_shards": 2}}
    config = copy.deepcopy(CONFIG)
    config["scores"]["cids"] = {"method": "cids", "model": "m", "base": "base:keep"}
    config["scores"]["qd"] = entry
    plan = plan_score(config, "qd").to_dict()
    assert stage_files(plan, "fit", chunks=CHUNKS)["param_centroids_file"] == "results/scores/cids/fit.npz"
    CONFIG["scores"]["cids"] = config["scores"]["cids"]
    try:
        got = run_staged("qd", entry)
    finally:
        del CONFIG["scores"]["cids"]
    cids = scorefiles.read_scores("results/scores/cids.parquet", "results/pool/index.parquet")
    c = read_arrays("results/scores/cids/fit.npz")["centroids"]
    assert np.array_equal(read_arrays(stage_path("qd", "fit"))["centroids"], c)
    # a survivor drawn twice by CIDS gets twice its copies; CIDS's dropped rows stay dropped
    assert np.array_equal(got["count"] == 0, cids["count"] == 0)
    ratio = got["count"][cids["count"] > 0] / cids["count"][cids["count"] > 0]
    assert set(np.unique(ratio)) == {1.0, 2.0}


@pytest.mark.parametrize("params, message", [({"w1": 2, "w2": 1}, "w2"), ({"top_fraction": 1.5}, "top_fraction"),
                                             ({"centroids_file": "c.txt"}, "centroids_file")])
def test_quality_dup_config_errors(params, message):
    config = copy.deepcopy(CONFIG)
    config["scores"]["q"] = {"method": "quality_dup", "model": "m", "quality": "hflip", "base": "base:keep", "params": params}
    with pytest.raises(PlanError, match=rf"scores\.q\.params.*{message}"):
        plan_score(config, "q")


def test_quality_dup_counts_reach_the_subset_unchanged(pool):
    # the counts sampler writes each uid count times into the DataComp .npy that reshard repeats
    # (tests/unit/test_pool_reshard.py: a score's counts through the sampler and reshard)
    from collections import Counter

    from clipcurate.sample import subset

    run_staged("qd", {"method": "quality_dup", "model": "m", "quality": "hflip", "base": "base:keep",
                      "params": {"centroids": K, "w1": 1, "w2": 2, "group_shards": 2}})
    counts = scorefiles.read_scores("results/scores/qd.parquet", "results/pool/index.parquet")["count"]
    stats = subset.write_recipe_subset("qd", {"method": "counts"}, "results/pool/index.parquet", "results/scores/qd.parquet",
                                       "qd.parquet", "qd.npy", n_target=10, seed=0)
    assert stats["n_total"] == int(counts.sum())
    got = Counter(uidcodec.pairs_to_uids(np.load("qd.npy")))
    assert got == {u: int(c) for u, c in zip(pool["uids"], counts) if c}


def test_cids_with_given_centroids_counts_every_survivor_exactly(pool):
    # given centroids (here the classes' means; DataComp's released ones at real scale): each prepare
    # job assigns its survivors, so the fit's totals are exact whatever the pool's size
    centroids = np.stack([pool["img"][pool["cls"] == k].mean(0) for k in range(K)]).astype(np.float32)
    np.save("centroids.npy", centroids)
    entry = {"method": "cids", "model": "m", "base": "base:keep",
             "params": {"centroids_file": "centroids.npy", "n_target": 2000, "seed": 1}}
    config = copy.deepcopy(CONFIG)
    config["scores"]["cg"] = entry
    plan = plan_score(config, "cg").to_dict()
    assert stage_files(plan, "prepare", chunk="00000")["param_centroids_file"] == "centroids.npy"
    got = run_staged("cg", entry)
    fitted = read_arrays(stage_path("cg", "fit"))
    lab = np.argmax(pool["img"] @ centroids.T, axis=1)
    assert np.array_equal(lab, pool["cls"])
    np.testing.assert_array_equal(fitted["pool_counts"], np.bincount(pool["cls"][pool["keep"]], minlength=K))
    np.testing.assert_array_equal(fitted["ref_counts"], [30, 20, 10, 0, 0, 0])
    total = int(got["count"].sum())
    assert abs(total - 2000) < 5 * np.sqrt(2000)
    drawn = np.bincount(pool["cls"], weights=got["count"], minlength=K) / total
    want = np.array([0.5, 1 / 3, 1 / 6, 0, 0, 0])
    assert (np.abs(drawn - want) <= 5 * np.sqrt(want * (1 - want) / total)).all(), drawn
    config["scores"]["cg"]["params"]["sample_ratio"] = 0.5
    with pytest.raises(PlanError, match=r"scores\.cg\.params: sample_ratio .* centroids_file"):
        plan_score(config, "cg")
