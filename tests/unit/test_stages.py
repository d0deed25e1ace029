"""Staged pool-level methods (clipcurate.scores.stages, clipcurate.scores.groups) run as the workflow
runs them, job by job over chunk and group-shard files, against in-memory references computed
independently over the whole pool at once:

* a tiny grouped method (clusters from a fit, a per-cluster decision needing all members) against a
  numpy group-by over all rows;
* DataComp's image-based filter, staged, against the in-memory filter (faiss k-means of all the
  pre-filtered rows, then the keep mask), with fitted centroids, with given centroids, and with
  DataComp's per-file sampling;
* resources declared per stage and overridden in config; embeddings read only in the declared
  modalities.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.scores.helpers import langid
from clipcurate.scores import REGISTRY, get, register
from clipcurate.scores import groups as G
from clipcurate.scores.inputs import Embeddings, Metadata, Reference
from clipcurate.scores.plan import PlanError, plan_score
from clipcurate.scores.stages import (
    DEFAULT_RESOURCES,
    Prepared,
    Resources,
    Stages,
    config_resources,
    run_apply,
    run_fit,
    run_gather,
    run_group,
    run_prepare,
    slurm_resources,
    stage_files,
    stage_path,
)

N_CHUNKS, PER_SHARD, D = 3, 40, 8
N = N_CHUNKS * 2 * PER_SHARD  # two shards per chunk
EN = ["a red circle on a white table", "two blue squares near the window", "a small green triangle in the grass",
      "three yellow stars over the sea"]
OTHER = ["ein roter Kreis auf dem Tisch", "x", "dog", "un chat noir sur le canapé"]


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """A crafted pool at the workflow's relative paths: index (3 chunks of 2 shards), per-chunk
    embeddings of 12 well-separated classes, the download's shard parquets, a downstream set."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    centers = unit(rng.normal(size=(12, D)))
    cls = rng.integers(0, 12, size=N)
    img = unit(centers[cls] + 0.15 * rng.normal(size=(N, D)))
    txt = unit(rng.normal(size=(N, D)))
    texts = [EN[i % 4] if rng.random() < 0.7 else OTHER[i % 4] for i in range(N)]
    uids = [f"{i + 1:032x}" for i in range(N)]
    shard = np.arange(N) // PER_SHARD
    keys = [f"{s:04d}{i % PER_SHARD:05d}" for i, s in enumerate(shard)]
    chunk = shard // 2
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array(shard, pa.int32()), "key": pa.array(keys),
                                 "chunk": pa.array(chunk, pa.int32())}), "results/pool/index.parquet",
                       fingerprint=uidcodec.uid_fingerprint(pa.array(uids)))
    for c in range(N_CHUNKS):
        r = np.flatnonzero(chunk == c)
        Path("results/embeddings/m").mkdir(parents=True, exist_ok=True)
        # row groups of 25 rows (the workflow writes 2^20): staged jobs read a chunk row group by row group
        pq.write_table(pa.table({"uid": pa.array([uids[i] for i in r]),
                                 "image": pa.FixedSizeListArray.from_arrays(pa.array(img[r].reshape(-1)), D),
                                 "text": pa.FixedSizeListArray.from_arrays(pa.array(txt[r].reshape(-1)), D)}),
                       f"results/embeddings/m/{c:05d}.parquet", row_group_size=25)
    for s in range(N_CHUNKS * 2):
        r = np.flatnonzero(shard == s)[::-1]  # img2dataset writes in completion order
        fileio.write_table(pa.table({"key": [keys[i] for i in r], "caption": [texts[i] for i in r]}),
                           f"results/pool/shards/{s:08d}.parquet")
    ref = unit(centers[:4] + 0.05 * rng.normal(size=(4, D)))  # downstream images of classes 0-3
    fileio.write_table(pa.table({"key": pa.array([f"r/{i}" for i in range(4)]),
                                 "image": pa.FixedSizeListArray.from_arrays(pa.array(ref.reshape(-1)), D),
                                 "text": pa.FixedSizeListArray.from_arrays(pa.array(ref.reshape(-1)), D)}),
                       "results/reference_embeddings/m/downstream.parquet")
    return {"img": img, "txt": txt, "texts": texts, "uids": uids, "chunk": chunk, "ref": ref}


CONFIG = {"pool": {"source": "world"}, "models": {"m": {"arch": "x"}}, "scores": {}, "mixes": {}}
CHUNKS = [f"{c:05d}" for c in range(N_CHUNKS)]


def run_staged(name, entry, threads=1):
    """Every job of a score, in the workflow's order, on the files the rules would pass."""
    config = copy.deepcopy(CONFIG)
    config["scores"][name] = entry
    plan = plan_score(config, name).to_dict()
    m = get(entry["method"])
    stages = m.stages.names()
    if "prepare" in stages:
        for c in CHUNKS:
            run_prepare(plan, stage_files(plan, "prepare", chunk=c), stage_path(name, "prepare", c), int(c), threads)
    if "fit" in stages:
        run_fit(plan, stage_files(plan, "fit", chunks=CHUNKS), stage_path(name, "fit"), threads)
    for c in CHUNKS:
        run_apply(plan, stage_files(plan, "apply", chunk=c), stage_path(name, "apply", c), int(c), threads)
    if "group" in stages:
        for s in range(int(plan["params"]["group_shards"])):
            run_group(plan, stage_files(plan, "group", chunks=CHUNKS), stage_path(name, "group", s), s, threads)
    out = stage_path(name, "gather")
    run_gather(plan, stage_files(plan, "gather", chunks=CHUNKS), out)
    return scorefiles.read_scores(out, "results/pool/index.parquet")


# ---------------------------------------------------------------------------------------------
# a tiny grouped method: clusters from fitted centres; per cluster, keep the member nearest the
# cluster's own mean (all members needed together), score = similarity to that mean


def _prepare(params, ctx, emb):
    assert set(emb) == {"uid", "image"}  # only the declared modality is read
    return {"sample": emb["image"][:: params["every"]]}


def _fit(params, ctx, prepared):
    x = np.concatenate([p["sample"] for p in prepared])
    return {"centres": x[: params["k"]]}


def _group(params, ctx, fitted, members):
    x = members["x"]
    sim = x @ x.mean(0)
    keep = np.zeros(len(x), bool)
    keep[int(np.argmax(sim))] = True
    return {"score": sim, "keep": keep}


@register("_grouped", level="chunk", inputs={"emb": Embeddings(modalities=("image",))}, outputs=("score", "keep"),
          defaults={"every": 5, "k": 6, "min_sim": 0.5, "group_shards": 3},
          stages=Stages(prepare=_prepare, prepare_inputs=("emb",), fit=_fit, group=_group, apply_inputs=("emb",)),
          resources={"group": Resources(mem_mb=2000, runtime=5)})
def _grouped(params, ctx, fitted, prepared, emb):
    sim = emb["image"] @ fitted["centres"].T
    group = np.where(sim.max(1) >= params["min_sim"], sim.argmax(1), -1)
    return {"score": np.full(len(group), -1.0, np.float32), "keep": np.ones(len(group), bool), "group": group,
            "members": {"x": emb["image"]}}


def grouped_reference(img, every, k, min_sim):
    """The same method over all rows at once, with a plain group-by."""
    sample = np.concatenate([img[np.flatnonzero(np.arange(N) // (2 * PER_SHARD) == c)][::every] for c in range(N_CHUNKS)])
    centres = sample[:k]
    sim = img @ centres.T
    group = np.where(sim.max(1) >= min_sim, sim.argmax(1), -1)
    score, keep = np.full(N, -1.0, np.float32), np.ones(N, bool)
    for g in np.unique(group[group >= 0]):
        rows = np.flatnonzero(group == g)
        s = img[rows] @ img[rows].mean(0)
        score[rows] = s
        keep[rows] = False
        keep[rows[np.argmax(s)]] = True
    return score, keep, group


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_grouped_method_equals_the_in_memory_group_by(pool, shards):
    got = run_staged("g", {"method": "_grouped", "model": "m", "params": {"group_shards": shards}})
    score, keep, group = grouped_reference(pool["img"], 5, 6, 0.5)
    assert (group >= 0).sum() > N // 2 and (group < 0).any() and len(np.unique(group[group >= 0])) > 3
    np.testing.assert_allclose(got["score"], score, rtol=1e-5, atol=1e-6)
    assert np.array_equal(got["keep"], keep)
    assert got["keep"].sum() == (group < 0).sum() + len(np.unique(group[group >= 0]))


def test_a_group_job_reads_only_its_shard(pool):
    run_staged("g", {"method": "_grouped", "model": "m"})  # leaves the chunk files (no temp() here)
    _, _, group = grouped_reference(pool["img"], 5, 6, 0.5)
    paths = [stage_path("g", "apply", c) for c in CHUNKS]
    for s in range(3):
        members = G.read_members(paths, s)
        expect = np.flatnonzero((group >= 0) & (group % 3 == s))
        assert members["row"].tolist() == expect.tolist()
        assert members["uid"].to_pylist() == [pool["uids"][i] for i in expect]
        np.testing.assert_array_equal(members["x"], pool["img"][expect])
    # one row group per shard present in a chunk: the other shards' bytes are never read
    pf = pq.ParquetFile(paths[0])
    shard_col = pf.schema_arrow.get_field_index(G.SHARD)
    per_rg = [(pf.metadata.row_group(i).column(shard_col).statistics.min, pf.metadata.row_group(i).column(shard_col).statistics.max)
              for i in range(pf.metadata.num_row_groups)]
    assert all(lo == hi for lo, hi in per_rg) and len(per_rg) == len({lo for lo, _ in per_rg})


def test_gather_refuses_a_row_in_two_groups_and_a_missing_chunk(pool, tmp_path):
    run_staged("g", {"method": "_grouped", "model": "m"})
    plan = plan_score({**CONFIG, "scores": {"g": {"method": "_grouped", "model": "m"}}}, "g")
    files = stage_files(plan, "gather", chunks=CHUNKS)
    dup = tmp_path / "dup.parquet"
    G.write_group_result(dup, {"row": np.array([int(G.read_group_results(files["groups"])["row"][0])]),
                               "score": np.zeros(1, np.float32), "keep": np.zeros(1, bool)})
    with pytest.raises(fileio.ContractError, match="is in two groups"):
        G.gather(files["chunks"], [*files["groups"], dup], files["index"], tmp_path / "o.parquet", ("score", "keep"))
    with pytest.raises(fileio.ContractError, match="not the next"):
        G.gather(files["chunks"][1:], files["groups"], files["index"], tmp_path / "o.parquet", ("score", "keep"))
    assert not (tmp_path / "o.parquet").exists()


def test_run_clusters_checks_what_the_group_function_returns():
    members = {"row": np.array([0, 1, 2]), "group": np.array([0, 0, 1]), "x": np.ones((3, 2))}
    with pytest.raises(ValueError, match="returned 'prob'"):
        G.run_clusters(members, lambda m: {"prob": np.zeros(len(m["row"]))}, ("score",))
    with pytest.raises(ValueError, match=r"shape \(1,\), expected \(2,\)"):
        G.run_clusters(members, lambda m: {"score": np.zeros(1)}, ("score",))
    out = G.run_clusters(members, lambda m: {"score": m["row"] * 10.0 + len(m["row"])}, ("score",))
    assert out["row"].tolist() == [0, 1, 2] and out["score"].tolist() == [2.0, 12.0, 21.0]


# ---------------------------------------------------------------------------------------------
# DataComp's image-based filter, staged vs in memory


def in_memory_image_based(pool, k, niter=10, seed=0, sample_ratio=None, centroids=None):
    texts = pool["texts"]
    pre = F.caption_prefilter(texts, langid.is_english(texts, langid.load_model(None)))
    if centroids is None:
        if sample_ratio is None:
            x = pool["img"][pre]
        else:  # DataComp's per-file draw (with replacement), here per chunk, seeded by (seed, chunk)
            parts = []
            for c in range(N_CHUNKS):
                xc = pool["img"][pre & (pool["chunk"] == c)]
                rng = np.random.default_rng([seed, c])
                parts.append(xc[rng.integers(0, len(xc), size=int(len(xc) * sample_ratio))])
            x = np.concatenate(parts)
        centroids = F.train_centroids(x, k, niter=niter, seed=seed, threads=1)
    keep, _ = F.image_based_keep(pool["img"], pre, centroids, pool["ref"])
    return keep, centroids, pre


def test_image_based_staged_equals_in_memory(pool):
    # image_based declares images only: neither the pool's nor the downstream set's text is read
    ref_path = "results/reference_embeddings/m/downstream.parquet"
    fileio.write_table(pq.read_table(ref_path).drop_columns(["text"]), ref_path)
    for c in CHUNKS:
        p = f"results/embeddings/m/{c}.parquet"
        pq.write_table(pq.read_table(p).drop_columns(["text"]), p, row_group_size=25)
    got = run_staged("img", {"method": "image_based", "model": "m", "params": {"centroids": 12, "niter": 10}})
    keep, centroids, pre = in_memory_image_based(pool, 12)
    fitted = np.load(stage_path("img", "fit"))
    np.testing.assert_array_equal(fitted["centroids"], centroids)  # the same rows in the same order: identical
    assert np.array_equal(got["keep"], keep)
    assert 0 < keep.sum() < pre.sum() < N  # some pre-filtered rows are dropped: not trivially all or none


def test_image_based_with_given_centroids(pool, tmp_path):
    c = unit(np.random.default_rng(5).normal(size=(9, D)))
    np.save(tmp_path / "centroids.npy", c)
    entry = {"method": "image_based", "model": "m", "params": {"centroids_file": str(tmp_path / "centroids.npy")}}
    got = run_staged("img", entry)
    keep, _, _ = in_memory_image_based(pool, 9, centroids=c)
    assert np.array_equal(got["keep"], keep)
    assert stage_files(plan_score({**CONFIG, "scores": {"img": entry}}, "img"), "fit", chunks=CHUNKS)[
        "param_centroids_file"] == str(tmp_path / "centroids.npy")  # an input: a missing file stops the plan


def test_image_based_samples_per_chunk_as_datacomp_per_file(pool):
    got = run_staged("img", {"method": "image_based", "model": "m", "params": {"centroids": 8, "niter": 10, "sample_ratio": 0.5}})
    keep, _, _ = in_memory_image_based(pool, 8, sample_ratio=0.5)
    assert np.array_equal(got["keep"], keep)


def test_fit_sample_caps_at_k_times_max_points_per_centroid():
    rng = np.random.default_rng(1)
    parts = [{"sample": rng.normal(size=(n, 3)).astype(np.float32)} for n in (5, 0, 7, 4)]
    from clipcurate.scores.methods.image_filter import fit_sample

    full = np.concatenate([p["sample"] for p in parts])
    np.testing.assert_array_equal(fit_sample(Prepared(parts), 100, 0), full)
    capped = fit_sample(Prepared(parts), 6, 0)
    assert capped.shape == (6, 3)
    rows = [int(np.flatnonzero((full == r).all(1))[0]) for r in capped]
    assert rows == sorted(set(rows))  # distinct rows of the samples, in pool order


def test_image_based_plan_errors():
    def plan(params):
        return plan_score({**CONFIG, "scores": {"img": {"method": "image_based", "model": "m", "params": params}}}, "img")

    with pytest.raises(PlanError, match=r"scores\.img\.params: sample_ratio .* centroids_file"):
        plan({"sample_ratio": 0.3, "centroids_file": "c.pt"})
    with pytest.raises(PlanError, match=r"scores\.img\.params\.sample_ratio"):
        plan({"sample_ratio": 1.5})


# ---------------------------------------------------------------------------------------------
# resources and modalities


def test_resources_are_declared_per_stage_and_overridden_in_config():
    cfg = copy.deepcopy(CONFIG)
    cfg["scores"] = {"img": {"method": "image_based", "model": "m",
                             "resources": {"fit": {"mem_mb": 64000, "gpu": 1, "threads": 16}}},
                     "clip": {"method": "clip_score", "model": "m"}}
    assert config_resources(cfg, "img", "fit") == Resources(mem_mb=64000, runtime=240, threads=16, gpu=1)
    assert config_resources(cfg, "img", "apply") == get("image_based").resources["apply"]
    assert config_resources(cfg, "clip", "apply") == DEFAULT_RESOURCES["apply"]
    fit = config_resources(cfg, "img", "fit")
    assert slurm_resources(fit, True, {"slurm_partition": "cpu"}, {"slurm_partition": "gpu"}) == {
        "mem_mb": 64000, "runtime": 240, "gpu": 1, "cpus_per_gpu": 16, "tasks_per_gpu": 0, "slurm_partition": "gpu"}
    # the tiny world runs every step on the CPU
    assert slurm_resources(fit, False, {"slurm_partition": "cpu"}, {}) == {"mem_mb": 64000, "runtime": 240, "slurm_partition": "cpu"}
    for bad, match in [({"fit": {"mem": 1}}, r"scores\.img\.resources\.fit\.mem: unknown"),
                       ({"group": {"mem_mb": 1}}, r"scores\.img\.resources\.group: method 'image_based' has no stage"),
                       ({"fit": {"gpu": -1}}, r"scores\.img\.resources\.fit: Resources\.gpu")]:
        cfg["scores"]["img"]["resources"] = bad
        with pytest.raises(PlanError, match=match):
            plan_score(cfg, "img")


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="read by no stage"):
        register("_bad_s1", level="chunk", inputs={"e": Embeddings(), "r": Reference()},
                 stages=Stages(fit=lambda *a, **k: {}, apply_inputs=("e",)))(lambda *a, **k: {})
    with pytest.raises(ValueError, match="group_shards"):
        register("_bad_s2", level="chunk", inputs={"e": Embeddings()}, stages=Stages(group=lambda *a: {}))(lambda *a, **k: {})
    with pytest.raises(ValueError, match="declare level='chunk'"):
        register("_bad_s3", level="pool", inputs={}, stages=Stages())(lambda *a, **k: {})
    with pytest.raises(ValueError, match="modalities"):
        Embeddings(modalities=("image", "audio"))
    assert not {"_bad_s1", "_bad_s2", "_bad_s3"} & set(REGISTRY)


def test_an_image_only_method_runs_without_text_embeddings(pool):
    # drop the text column from every chunk: a method declaring only images never touches it
    for c in CHUNKS:
        p = f"results/embeddings/m/{c}.parquet"
        fileio.write_table(pq.read_table(p).drop_columns(["text"]), p)
    got = run_staged("g", {"method": "_grouped", "model": "m"})
    score, keep, _ = grouped_reference(pool["img"], 5, 6, 0.5)
    assert np.array_equal(got["keep"], keep)


def test_metadata_and_shards_dir_reach_the_stage_files():
    plan = plan_score({**CONFIG, "scores": {"img": {"method": "image_based", "model": "m"}}}, "img")
    files = stage_files(plan, "prepare", chunk="00001", shards="/data/shards")
    assert files == {"index": "results/pool/index.parquet", "emb": "results/embeddings/m/00001.parquet",
                     "meta": "/data/shards"}
    assert stage_files(plan, "apply", chunk="00001") == {
        "index": "results/pool/index.parquet", "emb": "results/embeddings/m/00001.parquet",
        "fitted": "results/scores/img/fit.npz", "prepared": "results/scores/img/prepare/00001.npz"}
    assert isinstance(get("image_based").inputs["meta"], Metadata)


def test_gather_names_a_chunk_of_another_pool_or_out_of_order(pool, tmp_path):
    run_staged("g", {"method": "_grouped", "model": "m"})
    plan = plan_score({**CONFIG, "scores": {"g": {"method": "_grouped", "model": "m"}}}, "g")
    files = stage_files(plan, "gather", chunks=CHUNKS)
    bad = tmp_path / "bad.parquet"
    t = pq.read_table(files["chunks"][1])
    pq.write_table(t.set_column(0, "uid", pa.array([f"f{i:031x}" for i in range(t.num_rows)])), bad)
    with pytest.raises(fileio.ContractError, match=r"bad\.parquet: .*uids of the pool index are missing"):
        G.gather([files["chunks"][0], bad, files["chunks"][2]], files["groups"], files["index"], tmp_path / "o.parquet")
    # a plain chunk file (no _row) whose rows are swapped: the index order is required
    plain = tmp_path / "plain.parquet"
    scores = scorefiles.read_scores(stage_path("g", "gather"), "results/pool/index.parquet")
    rows = np.flatnonzero(pool["chunk"] == 0)
    swapped = np.r_[rows[1], rows[0], rows[2:]]
    scorefiles.write_scores(plain, pa.array([pool["uids"][i] for i in swapped]), {"score": scores["score"][swapped]}, fingerprint=None)
    with pytest.raises(fileio.ContractError, match="out of the pool index order from row 0"):
        G.gather([plain], (), files["index"], tmp_path / "o.parquet")


def test_chunk_embeddings_read_row_group_by_row_group(pool):
    from clipcurate.scores.runner import ChunkEmbeddings, Rows

    path = "results/embeddings/m/00001.parquet"
    assert pq.ParquetFile(path).metadata.num_row_groups == 4  # 80 rows in groups of 25
    emb = ChunkEmbeddings(path, Rows("results/pool/index.parquet", 1), ("image",))
    rows = np.flatnonzero(pool["chunk"] == 1)
    got = [(lo, hi, b["image"]) for lo, hi, b in emb.batches()]
    assert [(lo, hi) for lo, hi, _ in got] == [(0, 25), (25, 50), (50, 75), (75, 80)]
    np.testing.assert_array_equal(np.concatenate([b for _, _, b in got]), pool["img"][rows])
    idx = np.array([79, 3, 3, 51, 0, 26])
    np.testing.assert_array_equal(emb.take(idx, "image"), pool["img"][rows[idx]])
    assert emb.take(np.zeros(0, np.int64)).shape == (0, D)
    with pytest.raises(KeyError, match="declares modalities"):
        emb["text"]
    # a file whose third row group holds another pool's uids is refused, naming the rows
    t = pq.read_table(path)
    uid = [*t.column("uid").to_pylist()[:50], *(f"e{i:031x}" for i in range(30))]
    pq.write_table(t.set_column(0, "uid", pa.array(uid)), path, row_group_size=25)
    emb = ChunkEmbeddings(path, Rows("results/pool/index.parquet", 1), ("image",))
    assert emb.take([1, 30], "image").shape == (2, D)  # the first two row groups are fine
    with pytest.raises(fileio.ContractError, match=r"00001\.parquet \(rows 50\.\.74\): row 0 has uid e0"):
        emb.take([60], "image")


def test_a_variants_chunk_embeddings_pair_its_images_with_the_plain_text(pool):
    """A staged method on an image variant reads the variant's image-only file and the plain file's
    text vectors, both lazily and both uid-checked (runner.PairedChunkEmbeddings)."""
    from clipcurate.scores.runner import PairedChunkEmbeddings, Rows

    plain = "results/embeddings/m/00001.parquet"
    t = pq.read_table(plain)
    flipped = "results/embeddings/m/hflip/00001.parquet"
    Path(flipped).parent.mkdir(parents=True)
    neg = -np.asarray(t.column("image").combine_chunks().flatten()).reshape(-1, D)  # a stand-in variant: -image
    pq.write_table(pa.table({"uid": t.column("uid"), "image": pa.FixedSizeListArray.from_arrays(pa.array(neg.reshape(-1)), D)}),
                   flipped, row_group_size=25)
    rows = np.flatnonzero(pool["chunk"] == 1)
    emb = PairedChunkEmbeddings(flipped, plain, Rows("results/pool/index.parquet", 1))
    assert list(emb) == ["uid", "image", "text"] and len(emb) == len(rows)
    np.testing.assert_array_equal(emb["image"], -pool["img"][rows].astype(np.float32))
    np.testing.assert_array_equal(emb["text"], pool["txt"][rows].astype(np.float32))
    got = list(emb.batches())
    assert [(lo, hi) for lo, hi, _ in got] == [(0, 25), (25, 50), (50, 75), (75, 80)]
    np.testing.assert_array_equal(np.concatenate([b["text"] for *_, b in got]), pool["txt"][rows].astype(np.float32))
    np.testing.assert_array_equal(emb.take([5, 0], "image"), -pool["img"][rows[[5, 0]]].astype(np.float32))
    images_only = PairedChunkEmbeddings(flipped, None, Rows("results/pool/index.parquet", 1), ("image",))
    assert list(images_only) == ["uid", "image"]
    with pytest.raises(KeyError, match="declares modalities"):
        images_only["text"]
