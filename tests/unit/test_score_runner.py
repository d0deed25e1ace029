"""The one runner: each input kind loaded row-aligned on tiny crafted files, outputs checked."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.core import fileio, poolindex, scorefiles, uidcodec
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings, Metadata, Reference, Scores, Truth
from clipcurate.scores.plan import plan_score, score_files
from clipcurate.scores.runner import gather, run_score

UIDS = [f"{i:032x}" for i in range(1, 8)]
SHARDS = [0, 0, 0, 1, 1, 2, 2]  # chunk_shards = 2: chunk 0 = shards 0, 1; chunk 1 = shard 2
KEYS = ["000000001", "000000003", "000000004", "000010000", "000010002", "000020000", "000020001"]
CHUNKS = [s // 2 for s in SHARDS]
CAPTIONS = ["a red circle", "x", "two blue squares", "ein Hund", "green", "a cat on a mat", "?"]
WIDTHS = [64, 100, 300, 250, 90, 512, 40]


def emb_table(keys, vecs_img, vecs_txt, key_name="uid", extra=None):
    """An embedding file's table; ``vecs_txt`` None: an image variant's file (image vectors only)."""
    d = vecs_img.shape[1]
    cols = {key_name: pa.array(keys, pa.string()),
            "image": pa.FixedSizeListArray.from_arrays(pa.array(vecs_img.reshape(-1).astype(np.float32)), d)}
    if vecs_txt is not None:
        cols["text"] = pa.FixedSizeListArray.from_arrays(pa.array(vecs_txt.reshape(-1).astype(np.float32)), d)
    cols.update(extra or {})
    return pa.table(cols)


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A crafted pool: index, per-chunk embeddings, the download's shard parquets, a reference set,
    a score file, truth.parquet (shuffled) and an artifact, at the workflow's relative paths."""
    monkeypatch.chdir(tmp_path)
    uids = pa.array(UIDS, pa.string())
    fileio.write_table(pa.table({"uid": uids, "shard": pa.array(SHARDS, pa.int32()), "key": pa.array(KEYS),
                                 "chunk": pa.array(CHUNKS, pa.int32())}), "results/pool/index.parquet",
                       fingerprint=uidcodec.uid_fingerprint(uids))
    rng = np.random.default_rng(0)
    img, txt = unit(rng.normal(size=(7, 4))), unit(rng.normal(size=(7, 4)))
    for variant, im in (("plain", img), ("hflip", -img)):
        for c in (0, 1):
            rows = [i for i in range(7) if CHUNKS[i] == c]
            path = f"results/embeddings/m/{c:05d}.parquet" if variant == "plain" else f"results/embeddings/m/{variant}/{c:05d}.parquet"
            # as the embed stage writes them: a variant's file holds image vectors only
            fileio.write_table(emb_table([UIDS[i] for i in rows], im[rows], txt[rows] if variant == "plain" else None), path)
    # img2dataset's per-shard parquet: rows in completion order, with a failed sample, caption column
    for shard in (0, 1, 2):
        rows = [i for i in range(7) if SHARDS[i] == shard][::-1]
        t = pa.table({"key": [KEYS[i] for i in rows] + [f"{shard:04d}99999"], "caption": [CAPTIONS[i] for i in rows] + ["failed"],
                      "original_width": pa.array([WIDTHS[i] for i in rows] + [None], pa.int32()),
                      "status": ["success"] * len(rows) + ["failed_to_download"], "uid": [UIDS[i] for i in rows] + ["f" * 32]})
        fileio.write_table(t, f"results/pool/shards/{shard:08d}.parquet")
    ref_img, ref_txt = unit(rng.normal(size=(3, 4))), unit(rng.normal(size=(3, 4)))
    fileio.write_table(emb_table(["a/1", "a/2", "b/1"], ref_img, ref_txt, key_name="key", extra={"label": pa.array([2, 0, 1], pa.int64())}),
                       "results/reference_embeddings/m/downstream.parquet")
    base = np.arange(7, dtype=np.float32) * 0.5
    scorefiles.write_scores("results/scores/base.parquet", uids, {"score": base, "keep": base > 1.2},
                            fingerprint=poolindex.index_fingerprint("results/pool/index.parquet"))
    order = rng.permutation(7)
    (tmp_path / "resources/world").mkdir(parents=True)
    pq.write_table(pa.table({"uid": [UIDS[i] for i in order] + ["e" * 32], "clean": [bool(i % 2) for i in order] + [True]}),
                   "resources/world/truth.parquet")
    (tmp_path / "results/flyt/h1").mkdir(parents=True)
    (tmp_path / "results/flyt/h1/weight.json").write_text(json.dumps({"w": 2.5}))
    return {"img": img, "txt": txt, "ref_img": ref_img, "ref_txt": ref_txt, "base": base}


CONFIG = {
    "pool": {"source": "world"},
    "models": {"m": {"arch": "x"}},
    "flyt": {"runs": {"h1": {"scorer": "embedding", "embed_model": "m", "reference_model": "m"}}},
    "scores": {},
    "mixes": {},
}


@register("_run_emb", level="chunk", inputs={"e": Embeddings(), "f": Embeddings(variant="hflip")}, outputs=("score",))
def _run_emb(params, e, f):
    assert list(e["uid"].to_pylist()) == list(f["uid"].to_pylist())
    return {"score": np.einsum("ij,ij->i", e["image"], e["text"]) - np.einsum("ij,ij->i", f["image"], f["text"])}


@register("_run_flip_pool", level="pool", inputs={"f": Embeddings(variant="hflip")}, outputs=("score",))
def _run_flip_pool(params, f):  # a pool-level method gets the embeddings as a stream of chunks
    return {"score": np.concatenate([np.einsum("ij,ij->i", c["image"], c["text"]) for c in f])}


@register("_run_meta", level="chunk", inputs={"meta": Metadata(columns=("text", "original_width"))}, outputs=("score", "keep"),
          defaults={"min_width": 100})
def _run_meta(params, meta):
    w = meta.column("original_width").to_numpy()
    n_words = np.array([len(t.split()) for t in meta.column("text").to_pylist()])
    return {"score": n_words.astype(np.float32), "keep": w >= params["min_width"]}


@register("_run_ref", level="pool", inputs={"e": Embeddings(), "ref": Reference(set="downstream")}, outputs=("score",))
def _run_ref(params, e, ref):
    assert ref["label"].tolist() == [2, 0, 1]
    # a pool-level method streams the pool's embeddings one chunk at a time (never concatenated)
    assert len(e) == 2 and not isinstance(e, dict)
    return {"score": np.concatenate([(c["image"] @ ref["image"].T).max(axis=1) for c in e])}


@register("_run_art", level="chunk", inputs={"w": Artifact("results/flyt/{flyt}/weight.json"), "s": Scores(key="inputs")},
          outputs=("score",))
def _run_art(params, w, s):
    return {"score": json.loads(open(w).read())["w"] * s["base"] + s["base:keep"]}


@register("_run_truth", level="pool", inputs={"t": Truth()}, outputs=("keep",))
def _run_truth(params, t):
    return {"keep": t.column("clean").to_numpy(zero_copy_only=False).astype(bool)}


def run(name, entry, out=None):
    config = {**CONFIG, "scores": {"base": {"method": "clip_score", "model": "m"}, name: entry}}
    plan = plan_score(config, name).to_dict()
    out = out or f"results/scores/{name}.parquet"
    if plan["level"] == "pool":
        run_score(plan, score_files(plan, chunks=["00000", "00001"]), out)
    else:
        parts = []
        for c in ("00000", "00001"):
            parts.append(f"results/scores/{name}/chunks/{c}.parquet")
            run_score(plan, score_files(plan, chunk=c), parts[-1], chunk=int(c))
        gather(parts, "results/pool/index.parquet", out)
    return scorefiles.read_scores(out, "results/pool/index.parquet")


def test_embeddings_plain_and_flipped(world):
    got = run("e", {"method": "_run_emb", "model": "m"})
    expected = 2 * np.einsum("ij,ij->i", world["img"], world["txt"])
    np.testing.assert_allclose(got["score"], expected, rtol=1e-5, atol=1e-6)


def test_a_variant_pairs_its_images_with_the_plain_text_vectors(world):
    """The hflip files hold no text column: the runner takes the text vectors from the plain files,
    chunk by chunk and over the whole pool (a pool-level method); and a score entry's `variant:`
    makes clip_score read the flipped images (-img here) with the plain captions."""
    assert pq.read_schema("results/embeddings/m/hflip/00000.parquet").names == ["uid", "image"]
    expected = -np.einsum("ij,ij->i", world["img"], world["txt"])
    np.testing.assert_allclose(run("fp", {"method": "_run_flip_pool", "model": "m"})["score"], expected, rtol=1e-5, atol=1e-6)
    got = run("cs_flip", {"method": "clip_score", "model": "m", "variant": "hflip"})
    np.testing.assert_allclose(got["score"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run("cs", {"method": "clip_score", "model": "m"})["score"], -expected, rtol=1e-5, atol=1e-6)


def test_metadata_is_aligned_by_key_and_renamed(world):
    got = run("meta", {"method": "_run_meta", "params": {"min_width": 250}})
    assert got["score"].tolist() == [len(c.split()) for c in CAPTIONS]
    assert got["keep"].tolist() == [w >= 250 for w in WIDTHS]


def test_reference_set(world):
    got = run("ref", {"method": "_run_ref", "model": "m"})
    np.testing.assert_allclose(got["score"], (world["img"] @ world["ref_img"].T).max(axis=1), rtol=1e-5)


def test_artifact_and_other_scores_sliced_per_chunk(world):
    got = run("art", {"method": "_run_art", "flyt": "h1", "inputs": ["base", "base:keep"]})
    np.testing.assert_allclose(got["score"], 2.5 * world["base"] + (world["base"] > 1.2), rtol=1e-6)


def test_truth_aligned_by_uid(world):
    got = run("tr", {"method": "_run_truth"})
    truth = pq.read_table("resources/world/truth.parquet").to_pydict()
    by_uid = dict(zip(truth["uid"], truth["clean"]))
    assert got["keep"].tolist() == [by_uid[u] for u in UIDS]
    assert pq.read_schema("results/scores/tr.parquet").names == ["uid", "keep"]


def test_ported_methods(world):
    got = run("cs", {"method": "clip_score", "model": "m"})
    np.testing.assert_allclose(got["score"], np.einsum("ij,ij->i", world["img"], world["txt"]), rtol=1e-5)
    oracle = run("tc", {"method": "truth_clean"})
    assert oracle["keep"].dtype == np.bool_ and np.array_equal(oracle["score"], oracle["keep"].astype(np.float32))


def test_misaligned_embeddings_name_the_file(world):
    t = pq.read_table("results/embeddings/m/00001.parquet")
    fileio.write_table(t.take([1, 0]), "results/embeddings/m/00001.parquet")
    with pytest.raises(fileio.ContractError, match=r"00001\.parquet: row 0 has uid 0+7, the index has 0+6 \(chunk 1\)"):
        run("cs", {"method": "clip_score", "model": "m"})


def test_missing_metadata_key_names_the_shard(world):
    t = pq.read_table("results/pool/shards/00000002.parquet")
    fileio.write_table(t.slice(1), "results/pool/shards/00000002.parquet")
    with pytest.raises(fileio.ContractError, match=r"00000002\.parquet: sample key .* not in the shard's metadata"):
        run("meta", {"method": "_run_meta"})


@register("_run_bad", level="chunk", inputs={"e": Embeddings()}, outputs=("score",), defaults={"what": "nan"})
def _run_bad(params, e):
    n = len(e["image"])
    return {"nan": {"score": np.full(n, np.nan)}, "extra": {"keep": np.ones(n, bool)}, "short": {"score": np.zeros(n - 1)}}[params["what"]]


@pytest.mark.parametrize("what, match", [("nan", "non-finite value"), ("extra", "returned column 'keep', but declares outputs"),
                                         ("short", r"shape \(\d,\), expected")])
def test_bad_outputs_are_refused(world, what, match):
    with pytest.raises(ValueError, match=rf"score bad \(method _run_bad\): .*{match}"):
        run("bad", {"method": "_run_bad", "model": "m", "params": {"what": what}})


@register("_run_count", level="chunk", inputs={"e": Embeddings()}, outputs=("score", "count"), defaults={"what": "ok"})
def _run_count(params, e):
    n = len(e["image"])
    c = np.arange(n) % 3  # 0, 1, 2, 0, ...
    bad = {"ok": c, "float": c.astype(np.float64), "negative": np.where(np.arange(n) == 1, -2, c),
           "bool": c > 0, "huge": np.where(np.arange(n) == 2, 2**33, c)}[params["what"]]
    return {"score": c.astype(np.float32), "count": bad}


def test_count_output_is_written_as_integers(world):
    got = run("dup", {"method": "_run_count", "model": "m"})
    assert got["count"].dtype == np.uint32
    # the method numbers each chunk's rows from 0: counts restart at every chunk of the index
    chunks = poolindex.read_index("results/pool/index.parquet", columns=["chunk"]).column("chunk").to_numpy()
    sizes = np.bincount(chunks)
    assert len(sizes) == 2 and sizes.min() > 0
    assert got["count"].tolist() == [i % 3 for n in sizes for i in range(n)]
    assert pq.read_schema("results/scores/dup.parquet").field("count").type == pa.uint32()


@pytest.mark.parametrize("what, match", [
    ("float", r"column 'count': expected non-negative integer repeat counts, got dtype float64"),
    ("bool", r"column 'count': expected non-negative integer repeat counts, got dtype bool"),
    ("negative", r"column 'count': row 1 has count -2; expected an integer in \[0, 4294967295\]"),
    ("huge", r"column 'count': row 2 has count 8589934592; expected an integer in \[0, 4294967295\]"),
])
def test_bad_count_outputs_name_the_score_and_row(world, what, match):
    with pytest.raises(ValueError, match=rf"^score dup \(method _run_count\): {match}$"):
        run("dup", {"method": "_run_count", "model": "m", "params": {"what": what}})


def test_count_columns_of_score_files_are_checked_when_read(tmp_path):
    # a score file written by another tool: float counts and negative counts are refused, naming the file and row
    index = tmp_path / "index.parquet"
    uids = pa.array(UIDS[:3])
    fileio.write_table(pa.table({"uid": uids, "shard": [0, 0, 0], "key": ["0", "1", "2"], "chunk": [0, 0, 0]}), index)
    path = tmp_path / "s.parquet"
    fileio.write_table(pa.table({"uid": uids, "count": pa.array([1.0, 2.0, 0.0])}), path)
    with pytest.raises(fileio.ContractError, match=r"s\.parquet: column 'count' has type double; expected integer repeat counts"):
        scorefiles.read_scores(path, index)
    fileio.write_table(pa.table({"uid": uids, "count": pa.array([1, 0, -4], pa.int64())}), path)
    with pytest.raises(fileio.ContractError, match=r"s\.parquet: column 'count': row 2 has count -4; expected an integer in"):
        scorefiles.read_scores(path, index)
    fileio.write_table(pa.table({"uid": uids, "count": pa.array([1, 0, 4], pa.int64())}), path)
    assert scorefiles.read_scores(path, index)["count"].tolist() == [1, 0, 4]


def test_chunk_offset_and_row_reads_across_row_groups(tmp_path):
    from clipcurate.scores.runner import chunk_offset, read_rows

    chunks = np.repeat(np.arange(6), [5, 0, 7, 3, 9, 1])  # chunk 1 is empty
    path = tmp_path / "idx.parquet"
    pq.write_table(pa.table({"chunk": pa.array(chunks, pa.int32()), "v": np.arange(len(chunks), dtype=np.float32)}), path,
                   row_group_size=4)
    for c in range(7):
        assert chunk_offset(path, c) == int(np.searchsorted(chunks, c)), c
    for off, n in [(0, 25), (3, 6), (4, 4), (24, 1), (10, 0)]:
        np.testing.assert_array_equal(read_rows(path, "v", off, n), np.arange(off, off + n, dtype=np.float32))
