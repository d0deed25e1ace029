"""Bad inputs get an error naming the file, row or key and what was expected, and lose nothing.

Each case feeds one bad input to the function a workflow job (or the Snakefile, for config errors)
runs, asserts the message, and checks that an output written earlier is byte-identical afterwards.
Config errors are raised by :func:`clipcurate.config_check.prepare`, which the Snakefile runs on the
merged config before any job starts (tests/workflow/test_bad_config.py checks that wiring).
"""

from __future__ import annotations

import copy
import io as _io
import json
import logging
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image
from snakemake.utils import update_config

from clipcurate import config_check, evaluate, io, mixing, sampling, subset, tables
from clipcurate.config_check import ConfigError
from clipcurate.evaluate import SuiteError
from tests.conftest import hex_uid

REPO = Path(__file__).resolve().parents[2]
N = 10
UIDS = [hex_uid(i) for i in range(N)]
SCORES = np.linspace(0.0, 0.9, N)


# --------------------------------------------------------------------------------------------
# score files: a sample job and a mix job must refuse them and keep their previous outputs


@pytest.fixture
def pool(tmp_path, make_index):
    """A pool index and a subset written earlier from a good score file (the output to protect)."""
    index = make_index(UIDS)
    good = tmp_path / "good.parquet"
    io.write_scores(good, pa.array(UIDS), {"score": SCORES}, io.index_fingerprint(index))
    out = tmp_path / "subset.parquet"
    subset.write_recipe_subset("r", {"method": "threshold", "fraction": 0.3}, index, good, out, tmp_path / "subset.npy", 3, 0)
    return {"index": index, "good": good, "out": out, "before": out.read_bytes(), "npy": (tmp_path / "subset.npy").read_bytes()}


def _with_fingerprint(path, table, index):
    """Write ``table`` carrying the index's fingerprint, as if the workflow had written it."""
    io.write_table(table, path, fingerprint=io.index_fingerprint(index))
    return path


def _bad_score_file(kind, path, index):
    uids = pa.array(UIDS)
    score = pa.array(SCORES, pa.float32())
    if kind == "resorted":
        order = np.argsort(-SCORES)  # best first: the rows keep their uids, but not the index order
        return _with_fingerprint(path, pa.table({"uid": uids.take(order), "score": score.take(order)}), index)
    if kind == "other_pool":
        other = pa.array([hex_uid(1000 + i) for i in range(N)])
        return _with_fingerprint(path, pa.table({"uid": other, "score": score}), index)
    if kind == "keep_float":
        return _with_fingerprint(path, pa.table({"uid": uids, "keep": pa.array(np.full(N, 0.9))}), index)
    if kind == "keep_int":
        return _with_fingerprint(path, pa.table({"uid": uids, "keep": pa.array(np.full(N, 3))}), index)
    if kind == "score_string":
        return _with_fingerprint(path, pa.table({"uid": uids, "score": pa.array([str(s) for s in SCORES])}), index)
    if kind == "empty":
        path.write_bytes(b"")
        return path
    if kind == "truncated":
        _with_fingerprint(path, pa.table({"uid": uids, "score": score}), index)
        path.write_bytes(path.read_bytes()[:-40])
        return path
    if kind == "nan":
        vals = SCORES.copy()
        vals[4] = np.nan
        return _with_fingerprint(path, pa.table({"uid": uids, "score": pa.array(vals, pa.float32())}), index)
    if kind == "null_uid":
        return _with_fingerprint(path, pa.table({"uid": pa.array(UIDS[:3] + [None] + UIDS[4:]), "score": score}), index)
    if kind == "duplicate_uid":
        return _with_fingerprint(path, pa.table({"uid": pa.array(UIDS[:9] + UIDS[:1]), "score": score}), index)
    if kind == "extra_uid":
        return _with_fingerprint(
            path, pa.table({"uid": pa.array(UIDS + [hex_uid(99)]), "score": pa.array(np.append(SCORES, 1.0), pa.float32())}), index
        )
    if kind == "no_uid":
        return _with_fingerprint(path, pa.table({"id": uids, "score": score}), index)
    raise AssertionError(kind)


SCORE_CASES = [
    ("resorted", "threshold", r"rows are out of the pool index order from row 0 .*expected the index's row order"),
    ("other_pool", "threshold", r"10 uids of the pool index are missing, e\.g\. 0{32}; expected one row per index uid"),
    ("keep_float", "keep", r"column 'keep' has type double; expected boolean"),
    ("keep_int", "keep", r"column 'keep' has type int64; expected boolean"),
    ("score_string", "threshold", r"column 'score' has type string; expected a numeric \(float\) score column"),
    ("empty", "threshold", r"score file is empty \(0 bytes\); expected a parquet file"),
    ("truncated", "threshold", r"score file is not a readable parquet file .*truncated or corrupt"),
    ("nan", "threshold", r"column 'score' has a non-finite value \(nan\) at row 4"),
    ("null_uid", "threshold", r"uid is missing \(null\) at row 3; expected the pool index's uid in every row"),
    ("duplicate_uid", "threshold", r"duplicate uid 0{32} \(1 duplicate rows\); expected each index uid once"),
    ("extra_uid", "threshold", r"uid 0{30}63 is not in the pool index; expected only the index's uids"),
    ("no_uid", "threshold", r"no 'uid' column; every per-sample file must carry uid"),
]


@pytest.mark.parametrize("kind, method, message", SCORE_CASES, ids=[c[0] for c in SCORE_CASES])
def test_bad_score_file_stops_the_sample_job_and_keeps_the_subset(tmp_path, pool, kind, method, message):
    bad = _bad_score_file(kind, tmp_path / f"bad_{kind}.parquet", pool["index"])
    cfg = {"method": "keep"} if method == "keep" else {"method": "threshold", "fraction": 0.3}
    with pytest.raises(io.ContractError, match=rf"^{tmp_path}/bad_{kind}\.parquet: {message}"):
        subset.write_recipe_subset("r", cfg, pool["index"], bad, pool["out"], tmp_path / "subset.npy", 3, 0)
    assert pool["out"].read_bytes() == pool["before"]
    assert (tmp_path / "subset.npy").read_bytes() == pool["npy"]


@pytest.mark.parametrize("kind", ["resorted", "other_pool", "score_string"])
def test_bad_score_file_stops_the_mix_job_and_keeps_the_mix(tmp_path, pool, kind):
    out = tmp_path / "mix.parquet"
    specs = [("a", str(pool["good"]), "score"), ("b", str(pool["good"]), "score")]
    mixing.mix_files(specs, pool["index"], "sum", {}, out)
    before = out.read_bytes()
    bad = _bad_score_file(kind, tmp_path / "bad.parquet", pool["index"])
    with pytest.raises(io.ContractError, match=rf"^{tmp_path}/bad\.parquet: "):
        mixing.mix_files([("a", str(pool["good"]), "score"), ("b", str(bad), "score")], pool["index"], "sum", {}, out)
    assert out.read_bytes() == before


def test_resorted_file_is_refused_although_its_fingerprint_matches(tmp_path, pool):
    """The fingerprint in the metadata is the index's, yet the rows are not: alignment compares uids."""
    bad = _bad_score_file("resorted", tmp_path / "bad.parquet", pool["index"])
    assert pq.read_schema(bad).metadata[io.FINGERPRINT_KEY].decode() == io.index_fingerprint(pool["index"])
    assert not io.same_uids(bad, pool["index"])
    assert io.same_uids(pool["good"], pool["index"])


@pytest.mark.parametrize("block", [1, 3, 4, 1 << 20])
def test_streamed_uid_comparison_finds_a_swap_in_any_block(tmp_path, make_index, monkeypatch, block):
    """Blocks of the file and the index need not line up; a swap of two rows anywhere is found."""
    index = make_index(UIDS)
    monkeypatch.setattr(io, "ALIGN_BLOCK", block)
    for i in range(N - 1):
        swapped = list(UIDS)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        path = tmp_path / f"s{i}.parquet"
        pq.write_table(pa.table({"uid": pa.array(swapped)}), path, row_group_size=3)
        assert not io.same_uids(path, index)
    ok = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"uid": pa.array(UIDS, pa.large_string())}), ok, row_group_size=4)
    assert io.same_uids(ok, index)


@pytest.mark.parametrize(
    "kind, message",
    [("empty", r"pool index is empty \(0 bytes\)"), ("truncated", r"pool index is not a readable parquet file")],
)
def test_bad_pool_index_is_named(tmp_path, pool, kind, message):
    index = Path(pool["index"])
    index.write_bytes(b"" if kind == "empty" else index.read_bytes()[:-30])
    with pytest.raises(io.ContractError, match=rf"^{index}: {message}"):
        subset.write_recipe_subset("r", {"method": "all"}, index, None, pool["out"], None, 3, 0)
    assert pool["out"].read_bytes() == pool["before"]


def test_keep_column_of_floats_is_refused_by_the_sampler_too():
    with pytest.raises(sampling.SamplingError, match=r"recipes\.r\.sample\.method: 'keep' needs a boolean 'keep' column; it has dtype float64"):
        subset.select({"method": "keep"}, {"keep": np.full(4, 0.9)}, 4, 4, 0, recipe="r")


def test_truncated_subset_is_named(tmp_path, pool):
    from clipcurate.reshard import reshard

    bad = tmp_path / "cut.parquet"
    bad.write_bytes(pool["out"].read_bytes()[:-20])
    out = tmp_path / "reshard"
    with pytest.raises(io.ContractError, match=rf"^{bad}: subset is not a readable parquet file"):
        reshard(bad, pool["index"], tmp_path / "shards", out, 5, 5, 0)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# shards and images


def _jpeg(i: int) -> bytes:
    buf = _io.BytesIO()
    Image.new("RGB", (24, 24), (i * 20 % 255, 90, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _write_shard(path: Path, samples):
    """A webdataset tar: per sample key.jpg, key.txt, key.json (as img2dataset writes them)."""
    with tarfile.open(path, "w") as tf:
        for key, jpg, uid in samples:
            for ext, data in (("jpg", jpg), ("txt", f"caption {key}".encode()), ("json", json.dumps({"uid": uid}).encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tf.addfile(info, _io.BytesIO(data))


@pytest.fixture
def shards(tmp_path, make_index):
    """Two shards of 5 samples each and their index (chunk 0 holds both)."""
    d = tmp_path / "shards"
    d.mkdir()
    for s in range(2):
        _write_shard(d / f"{s:08d}.tar", [(f"{s:04d}{k:05d}", _jpeg(s * 5 + k), UIDS[s * 5 + k]) for k in range(5)])
    index = tmp_path / "index.parquet"
    keys = [f"{s:04d}{k:05d}" for s in range(2) for k in range(5)]
    table = pa.table({"uid": pa.array(UIDS), "shard": pa.array([0] * 5 + [1] * 5, pa.int32()),
                      "key": pa.array(keys), "chunk": pa.array([0] * N, pa.int32())})
    io.write_table(table, index, fingerprint=io.uid_fingerprint(table.column("uid")))
    return d, index


def _cut_tar(path: Path, keep_bytes: int):
    path.write_bytes(path.read_bytes()[:keep_bytes])


@pytest.mark.parametrize(
    "cut, message",
    [(512 * 8 + 100, r"shard is truncated \(4196 bytes, not whole 512-byte tar blocks\)"),  # inside an image
     (512 * 12, r"shard is truncated \(no end-of-archive marker\)")],  # between samples: tarfile ends silently
)
def test_truncated_shard_tar_names_the_shard_in_embedding(shards, cut, message):
    from clipcurate.embed import iter_chunk_samples

    d, index = shards
    shard = d / "00000001.tar"
    _cut_tar(shard, cut)
    with pytest.raises(io.ContractError, match=rf"^{shard}: {message}; expected a complete webdataset tar"):
        list(iter_chunk_samples(index, d, 0))


def test_corrupt_tar_header_names_the_shard_and_the_lost_sample(shards):
    """tarfile stops without an error at a damaged member header; the index says what is missing."""
    from clipcurate.embed import iter_chunk_samples

    d, index = shards
    shard = d / "00000001.tar"
    data = bytearray(shard.read_bytes())
    data[512 * 12 : 512 * 12 + 100] = b"x" * 100  # the header of the third sample's image
    shard.write_bytes(bytes(data))
    with pytest.raises(io.ContractError, match=rf"^{shard}: sample 000100002 \(uid {UIDS[7]}\) is in the index but has no jpg in the shard"):
        list(iter_chunk_samples(index, d, 0))


def test_truncated_shard_tar_names_the_shard_in_resharding(tmp_path, shards):
    from clipcurate.reshard import reshard

    d, index = shards
    sub = tmp_path / "sub.parquet"
    io.write_subset(sub, None, pa.array(UIDS), np.ones(N, dtype=np.int64))
    shard = d / "00000000.tar"
    _cut_tar(shard, 512 * 8 + 100)  # inside the second sample's image
    out = tmp_path / "train"
    out.mkdir()
    (out / "earlier.txt").write_text("kept")
    with pytest.raises(io.ContractError, match=rf"^{shard}: shard is truncated"):
        reshard(sub, index, d, out, 5, 5, 0)
    assert (out / "earlier.txt").read_text() == "kept"


def test_unreadable_tar_member_names_the_shard_and_sample(tmp_path):
    """A member whose data cannot be read (here: a size beyond the file) names the shard and sample."""
    from clipcurate.reshard import _iter_samples

    shard = tmp_path / "00000000.tar"
    _write_shard(shard, [(f"k{k}", _jpeg(k), UIDS[k]) for k in range(2)])
    with tarfile.open(shard) as tf:
        offset = next(m.offset for m in tf if m.name == "k1.jpg")
    data = bytearray(shard.read_bytes())
    info = tarfile.TarInfo("k1.jpg")
    info.size = 10**6  # claims more bytes than the shard holds
    data[offset : offset + 512] = info.tobuf()
    shard.write_bytes(bytes(data))
    with pytest.raises(io.ContractError, match=rf"^{shard}: shard is truncated or corrupt \(ReadError: unexpected end of data\) at sample 'k1'"):
        list(_iter_samples(shard))


def test_sample_missing_from_a_shard_is_named(tmp_path, shards):
    from clipcurate.reshard import reshard

    d, index = shards
    _write_shard(d / "00000001.tar", [(f"0001{k:05d}", _jpeg(k), UIDS[5 + k]) for k in range(4)])  # key 000100004 gone
    sub = tmp_path / "sub.parquet"
    io.write_subset(sub, None, pa.array(UIDS), np.ones(N, dtype=np.int64))
    with pytest.raises(io.ContractError, match=rf"00000001\.tar: 1 selected samples are in the pool index but not in the shard, e\.g\. key 000100004 \(uid {UIDS[9]}\)"):
        reshard(sub, index, d, tmp_path / "train", 5, 5, 0)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image_is_skipped_and_counted_by_embedding(tmp_path, shards, caplog, damage):
    """Not fatal: the sample keeps its row (index order) with a zero image embedding, and is counted."""
    from clipcurate.embed import embed_chunk, read_embeddings

    d, index = shards
    bad_jpg = b"not a jpeg at all" if damage == "garbage" else _jpeg(3)[:200]
    samples = [(f"0000{k:05d}", _jpeg(k), UIDS[k]) for k in range(5)]
    samples[3] = (samples[3][0], bad_jpg, samples[3][2])
    _write_shard(d / "00000000.tar", samples)
    out = tmp_path / "emb.parquet"
    with caplog.at_level(logging.WARNING, logger="clipcurate.embed"):
        stats = embed_chunk(index, d, 0, {"arch": "tiny-clip", "pretrained": None}, out, batch_size=4)
    assert stats["samples"] == N and stats["corrupt_images"] == 1
    emb = read_embeddings(out)
    assert emb["uid"].to_pylist() == UIDS
    norms = np.linalg.norm(emb["image"], axis=1)
    assert norms[3] == 0 and np.allclose(np.delete(norms, 3), 1, atol=1e-3)
    assert json.loads(pq.read_schema(out).metadata[b"clipcurate.corrupt_images"]) == [UIDS[3]]
    assert f"{d / '00000000.tar'}: sample 000000003 (uid {UIDS[3]}): corrupt image skipped" in caplog.text


def test_corrupt_image_is_skipped_and_counted_by_the_flyt_stream(caplog):
    from clipcurate.flyt.data import SkipCounter, _decode_images

    counter = SkipCounter()
    samples = [{"__key__": f"k{i}", "__url__": "shard/00000007.tar", "jpg": _jpeg(i) if i != 1 else _jpeg(1)[:150]} for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="clipcurate.flyt.data"):
        out = list(_decode_images(iter(samples), counter))
    assert [s["__key__"] for s in out] == ["k0", "k2"] and isinstance(out[0]["jpg"], Image.Image)
    assert counter.images == 1
    assert "shard/00000007.tar: sample k1: corrupt image skipped" in caplog.text


@pytest.mark.parametrize("cut", [512 * 7 + 100, 512 * 12, 512 * 9])
def test_truncated_shard_is_named_before_the_flyt_stream_starts(tmp_path, cut):
    """webdataset reads a tar as a stream, which ends silently where the file was cut: the FLYT
    streams check each shard's end first (inside a sample, at a sample boundary, in the marker)."""
    from clipcurate.flyt.data import _shard_urls

    good, shard = tmp_path / "00000000.tar", tmp_path / "00000001.tar"
    for p in (good, shard):
        _write_shard(p, [(f"k{k}", _jpeg(k), UIDS[k]) for k in range(4)])
    assert good.stat().st_size == 20480
    _cut_tar(shard, cut)
    with pytest.raises(io.ContractError, match=rf"^{shard}: shard is truncated"):
        _shard_urls([good, shard])
    assert _shard_urls([good]) == [str(good)]


# --------------------------------------------------------------------------------------------
# evaluation results


SUITE = {"tasks": [
    {"key": "imagenet1k", "name": "imagenet1k", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet"},
    {"key": "cars", "name": "cars", "task": "zeroshot_classification", "main_metric": "acc1", "group": "VTAB"},
]}


def _eval_lines(**override):
    vals = {"imagenet1k": 0.5, "cars": 0.25, **override}
    return [json.dumps({"key": k, "dataset": k, "metrics": {"acc1": v, "main_metric": v}}) for k, v in vals.items()]


@pytest.mark.parametrize(
    "text, message",
    [
        ("\n".join(_eval_lines()) + '\n{"key": "x", "metr', r":3: not a JSON line \(Unterminated string.*\); expected one JSON object per task"),
        ("\n".join(_eval_lines()) + "\n[1, 2]", r":3: expected an object with a string 'key' and a 'metrics' object"),
        ("\n".join(_eval_lines(cars=float("nan"))), r": task 'cars': main_metric is nan; expected a finite number"),
        ("\n".join(_eval_lines(cars="0.3")), r": task 'cars': main_metric is '0.3'; expected a finite number"),
        ("\n".join(_eval_lines()[:1]), r": 1 of 2 scored tasks are missing: \['cars'\]"),
    ],
    ids=["truncated_line", "not_an_object", "nan_metric", "string_metric", "missing_task"],
)
def test_bad_eval_results_are_named_and_the_table_is_kept(tmp_path, pool, text, message):
    ev = tmp_path / "r.jsonl"
    ev.write_text(text + "\n")
    table = tmp_path / "table.csv"
    table.write_text("earlier table\n")
    with pytest.raises(SuiteError, match=rf"^{ev}{message}"):
        tables.row_values("r", ev, pool["out"], SUITE, ["ImageNet", "dataset size"])
    assert table.read_text() == "earlier table\n"


def test_good_eval_results_still_aggregate(tmp_path, pool):
    ev = tmp_path / "r.jsonl"
    ev.write_text("\n".join(_eval_lines()) + "\n")
    row = tables.row_values("r", ev, pool["out"], SUITE, ["ImageNet", "Average", "dataset size"])
    # lines without test-set sizes (num_samples) aggregate; their standard errors are unknown (NaN)
    assert {k: v for k, v in row.items() if not k.endswith("_se")} == {"ImageNet": 0.5, "Average": 0.375, "dataset size": 3}
    assert sorted(row.keys() - {"ImageNet", "Average", "dataset size"}) == ["Average_se", "ImageNet_se"]


# --------------------------------------------------------------------------------------------
# config: every error caught by the Snakefile's check, before any job starts


def _shipped_config() -> dict:
    cfg: dict = {}
    for f in ("config/config.yaml", "config/scales/tiny.yaml"):
        update_config(cfg, yaml.safe_load((REPO / f).read_text()))
    return cfg


SHIPPED = _shipped_config()


def _prepare(override: dict, name="bad.yaml"):
    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, copy.deepcopy(override))
    config_check.prepare(cfg, REPO, [("config/config.yaml", SHIPPED), (name, override)])
    return cfg


def test_the_shipped_config_passes():
    cfg = _prepare({})
    assert "clip_score_top30" in cfg["recipes"] and "table1" in cfg["tables"]


@pytest.mark.parametrize("extra", sorted(str(p.relative_to(REPO)) for p in (REPO / "config" / "scales").glob("*.yaml")) + ["tests/workflow/micro.yaml"])
def test_every_shipped_scale_passes_the_checks(extra):
    """No check refuses a shipped configuration (a real scale adds the user's metadata_dir)."""
    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, yaml.safe_load((REPO / extra).read_text()))
    if cfg["pool"]["source"] == "datacomp":
        cfg["pool"]["metadata_dir"] = "/data/datacomp/metadata"
    config_check.prepare(cfg, REPO)


def _recipe(sample, **extra):
    return {"recipes": {"x": {"label": "X", "score": "clip_score", "sample": sample, **extra}}}


CONFIG_CASES = [
    # world settings: the world job would delete resources/world and then raise
    ({"world": {"kinds": {"clean": 0.9}}}, r"config: world\.kinds: the fractions must sum to 1, they sum to 1\.500000"),
    ({"world": {"kinds": {"clean": -0.1}}}, r"config key world\.kinds\.clean \(set in bad\.yaml\): -0\.1 is less than the minimum of 0"),
    ({"world": {"kinds": {"cats": 0.1}}}, r"config key world\.kinds \(set in bad\.yaml\): Additional properties are not allowed \('cats' was unexpected\)"),
    ({"world": {"pool_size": 5000}}, r"config: world\.pool_size \(5000\) must equal scale\.pool_size \(20000\)"),
    ({"world": {"kinds": {"clean": 0.0, "misaligned": 0.54}}}, r"config: world\.near_duplicate > 0 needs clean > 0"),
    # values that crashed the Snakefile before the schema ran
    ({"seed": "abc"}, r"config key seed \(set in bad\.yaml\): 'abc' is not of type 'integer'"),
    ({"scale": None}, r"config key scale \(set in bad\.yaml\): None is not of type 'object'"),
    ({"recipes": 3}, r"config key recipes: expected a mapping of recipe names to entries, got 3"),
    ({"tables": ["table1"]}, r"config key tables: expected a mapping of table names to entries"),
    ({"pool": {"source": "datacomp"}}, r"config key pool \(set in bad\.yaml\): expected one of: metadata_dir \(string\) \| shard_list \(string\) \| shards_dir \(string\); the settings given match none"),
    # unknown keys: named, with the file, not the whole merged config
    ({"sead": 1}, r"config: unknown top-level key 'sead' \(set in bad\.yaml\); known keys: .*download, embed"),
    ({"models": {"openai": {"arch": "tiny-clip", "pretrain": "x"}}}, r"config key models\.openai \(set in bad\.yaml\): Additional properties are not allowed \('pretrain' was unexpected\)"),
    # samplers: the schema and the library take the same keys
    (_recipe({"method": "threshold", "fraction": 0.3, "n": 5}), r"config key recipes\.x\.sample \(set in bad\.yaml\): key 'n' is not allowed here; allowed keys: method, fraction"),
    (_recipe({"method": "scs", "alpha": 1, "beta": 2}), r"config key recipes\.x\.sample \(set in bad\.yaml\): key 'beta' is not allowed here; allowed keys: method, alpha, group_size, n"),
    (_recipe({"method": "scs"}), r"config key recipes\.x\.sample \(set in bad\.yaml\): 'alpha' is a required property"),
    (_recipe({"method": "scs", "alpha": -1}), r"config key recipes\.x\.sample\.alpha \(set in bad\.yaml\): -1 is less than the minimum of 0"),
    (_recipe({"method": "hcs", "beta": 0}), r"config key recipes\.x\.sample\.beta \(set in bad\.yaml\): 0 is less than the minimum of 1"),
    (_recipe({"method": "threshold", "fraction": 1.5}), r"config key recipes\.x\.sample\.fraction \(set in bad\.yaml\): 1\.5 is greater than the maximum of 1"),
    (_recipe({"method": "all", "fraction": 0.5}), r"config key recipes\.x\.sample \(set in bad\.yaml\): key 'fraction' is not allowed here; allowed keys: method"),
    (_recipe({"method": "softmax"}), r"config key recipes\.x\.sample\.method \(set in bad\.yaml\): 'softmax' is not one of \['all', 'keep'"),
    (_recipe({"method": "keep"}), r"config: recipes\.x\.sample\.method: 'keep' needs a boolean keep column, but score 'clip_score' \(clip_score\) gives \['score'\]"),
    ({"recipes": {"x": {"label": "X", "mix": "sum", "sample": {"method": "keep"}}}}, r"config: recipes\.x\.sample\.method: 'keep' needs a boolean keep column, but mix 'sum' \(sum\) gives only a score"),
    ({"recipes": {"x": {"label": "X", "sample": {"method": "nocap"}}}}, r"config: recipes\.x\.sample\.method: 'nocap' needs a score or a mix; the recipe names neither"),
    ({"recipes": {"x": {"label": "X", "score": "nope", "sample": {"method": "nocap"}}}}, r"config: recipes\.x\.score: unknown score 'nope'; known: \[.*'clip_score', .*'truth_clean'\]"),
    # mixes
    ({"mixes": {"m": {"method": "product", "inputs": ["clip_score"]}}}, r"config key mixes\.m\.method \(set in bad\.yaml\): 'product' is not one of \['identity'"),
    ({"mixes": {"m": {"method": "sum", "inputs": ["clip_score", "eflyt"], "params": {"w": 1}}}}, r"config: mixes\.m\.params: sum: unknown parameter 'w'; known parameters: \[\]"),
    ({"mixes": {"m": {"method": "weighted_sum", "inputs": ["clip_score", "eflyt"]}}}, r"config: mixes\.m\.params: weighted_sum: missing parameter 'weights'"),
    ({"mixes": {"m": {"method": "intersection", "inputs": ["clip_score", "eflyt"], "params": {"fractions": 1.5}}}}, r"config: mixes\.m\.params: fractions\['clip_score'\]: fraction 1\.5 is outside \(0, 1\]"),
    ({"mixes": {"m": {"method": "two_stage", "inputs": ["clip_score", "eflyt"], "params": {"first": "clip_score", "second": "eflyt", "p": 0.2, "q": 0.4}}}}, r"config: mixes\.m\.params: two_stage: q=0\.4 \(a fraction of the original pool\) exceeds p=0\.2"),
    ({"mixes": {"in_weighted_r8": {"params": {"r": 1}}}}, r"config: mixes\.in_weighted_r8\.params: in_weighted: r \(the max-to-min weight ratio\) must be > 1, got 1\.0"),
    ({"mixes": {"mflyt": {"params": {"r": 2}}}}, r"config: mixes\.mflyt\.params: method 'mflyt' takes its weights from the trained mixer \(flyt\.runs\.mflyt\); remove params"),
    ({"mixes": {"m": {"method": "sum", "inputs": ["clip_score", "clip_score"]}}}, r"config: mixes\.m\.params: sum: input name 'clip_score' is used twice"),
    # tables and evaluation
    ({"tables": {"table1": {"rows": [{"recipe": "nope", "label": "N"}], "columns": ["ImageNet"]}}}, r"config: tables\.table1\.rows\[0\]\.recipe: unknown recipe 'nope'"),
    ({"tables": {"table1": {"rows": [{"recipe": "no_filter", "label": "N"}], "columns": ["ImageNet", "Imagenet"]}}}, r"config: tables\.table1\.columns\[1\]: unknown column 'Imagenet'; expected an aggregate"),
    ({"evaluation": {"suite": "datacomp39"}}, r"config: evaluation\.suite: no suite file .*datacomp39\.yaml; known suites: datacomp38, tiny"),
    # models and FLYT
    ({"scale": {"model": "ViT-B-23"}}, r"config: scale\.model: unknown architecture 'ViT-B-23'; expected an open_clip model config name"),
    ({"models": {"openai": {"arch": "tiny_clip"}}}, r"config: models\.openai\.arch: unknown architecture 'tiny_clip'.*shipped one \(tiny-clip\)"),
    ({"models": {"nofilter": {"arch": "ViT-B-32"}}}, r"config: models\.nofilter\.arch: 'ViT-B-32', but its weights results/train/no_filter/.* scale\.model \('tiny-clip'\); expected the same architecture"),
    ({"models": {"openai": {"train": {"dataset": "imagenet"}}}}, r"config: models\.openai\.train\.dataset: unknown reference set 'imagenet'; expected one of the world's: pretrain, hq"),
    ({"flyt": {"runs": {"eflyt": {"embed_model": "clip-b32"}}}}, r"config: flyt\.runs\.eflyt\.embed_model: unknown model 'clip-b32'"),
]


@pytest.mark.parametrize("override, message", CONFIG_CASES, ids=[f"config{i}" for i in range(len(CONFIG_CASES))])
def test_config_error_names_the_key(override, message):
    with pytest.raises(ConfigError, match=rf"^{message}") as err:
        _prepare(override)
    assert len(str(err.value)) < 1000  # a message, never a dump of the merged config


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nworld:\n  kinds: {clean: 0.4,\n  pool_size: 3\n")
    with pytest.raises(ConfigError, match=rf"^{bad}:5:1: YAML syntax error: .*flow mapping.* began at line 3, column 10"):
        config_check.check_yaml_files([bad])
    assert config_check.main(["--repo", str(REPO), str(bad)]) == 1
    assert config_check.main(["--repo", str(REPO), str(REPO / "tests/workflow/micro.yaml")]) == 0


def test_the_command_line_check_runs_every_check(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("world:\n  kinds: {clean: 0.9}\n")
    assert config_check.main(["--repo", str(REPO), str(bad)]) == 1
    assert capsys.readouterr().err.startswith("config: world.kinds: the fractions must sum to 1, they sum to 1.500000")


def test_a_name_defined_twice_is_named(tmp_path):
    (tmp_path / "config" / "recipes").mkdir(parents=True)
    (tmp_path / "config" / "recipes" / "a.yaml").write_text("x: {label: X, sample: {method: all}}\n")
    (tmp_path / "config" / "recipes" / "b.yaml").write_text("x: {label: X2, sample: {method: all}}\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: recipe 'x' is defined twice"):
        config_check.merge_named_files({}, tmp_path, "recipes")


# --------------------------------------------------------------------------------------------
# the schema and the library agree


def _schema():
    return yaml.safe_load((REPO / "config" / "schema.yaml").read_text())


def _sample_keys_by_method(schema) -> dict[str, tuple[set, set]]:
    """method -> (allowed keys, required keys) as the schema's $defs/sample says."""
    sample = schema["$defs"]["sample"]
    out = {}
    for rule in sample["allOf"]:
        cond = rule["if"]["properties"]["method"]
        methods = cond.get("enum") or [cond["const"]]
        for m in methods:
            out[m] = (set(rule["then"]["propertyNames"]["enum"]) - {"method"}, set(rule["then"].get("required", [])))
    assert set(out) == set(sample["properties"]["method"]["enum"])
    return out


def test_schema_sampler_keys_are_the_library_keys():
    by_method = _sample_keys_by_method(_schema())
    assert set(by_method) == set(subset.POOL_METHODS) | set(sampling.METHODS)
    for method, (allowed, required) in by_method.items():
        if method in subset.POOL_METHODS:
            assert allowed == set() and required == set()
            continue
        lib = set(sampling.METHODS[method]) | ({"n"} if method != "threshold" else set())
        assert allowed == lib, method
        assert required == set(sampling.REQUIRED[method]), method
        # every allowed key, with a valid value, passes both the schema and the library
        values = {"fraction": 0.5, "alpha": 0.5, "group_size": 4, "beta": 2, "batch_size": 7, "n": 5}
        cfg = {"method": method, **{k: values[k] for k in allowed}}
        subset.resolve_sample_cfg(cfg, 10, "x")
        _prepare(_recipe(cfg))


def test_hcs_batch_size_is_accepted_by_schema_and_library():
    cfg = {"method": "hcs", "beta": 2, "batch_size": 1000}
    assert subset.resolve_sample_cfg(cfg, 10, "x")["batch_size"] == 1000
    _prepare(_recipe(cfg))


def test_schema_mix_methods_are_the_library_methods():
    enum = _schema()["properties"]["mixes"]["additionalProperties"]["properties"]["method"]["enum"]
    assert set(enum) == set(mixing.METHODS) | {"mflyt"}
    assert set(mixing.METHODS) == set(mixing._PARAMS)


def test_schema_world_keys_are_the_generator_keys():
    from clipcurate.world.generate import DEFAULT_CFG

    world = _schema()["properties"]["world"]["properties"]
    assert set(world["kinds"]["properties"]) == set(DEFAULT_CFG["kinds"])
    assert set(world["sizes"]["properties"]) == set(DEFAULT_CFG["sizes"])


def test_table_columns_known_to_the_check_are_the_tables_module_columns():
    assert config_check.TABLE_AGGREGATES == evaluate.AGGREGATES
    assert set(config_check.TABLE_SIZE_COLUMNS) == set(tables.SIZE_COLUMNS)


def test_no_message_refers_to_a_rule_that_does_not_exist():
    rules = {line.split()[1].rstrip(":") for f in (REPO / "rules").glob("*.smk")
             for line in f.read_text().splitlines() if line.startswith("rule ")}
    text = (REPO / "src" / "clipcurate" / "io.py").read_text()
    assert "import rule" not in text and "import" not in rules
