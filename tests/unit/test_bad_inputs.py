"""Bad inputs get an error naming the file, row or key and what was expected, and lose nothing.

Each case feeds one bad input to the function a workflow job (or the Snakefile, for config errors)
runs, asserts the message, and checks that an output written earlier is byte-identical afterwards.
Config errors are raised by :func:`clipcurate.config.check.prepare`, which the Snakefile runs on the
merged config before any job starts (tests/workflow/test_bad_config.py checks that wiring).
"""

from __future__ import annotations

import copy
import io as _io
import json
import logging
import re
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image
from snakemake.utils import update_config

from clipcurate.config import check as config_check
from clipcurate.evaluate import run as evaluate
from clipcurate.core import alignment, fileio, poolindex, scorefiles, uidcodec
from clipcurate.mix import aggregate as mixing
from clipcurate.mix.files import mix_files
from clipcurate.sample import subset
from clipcurate.report import tables
from clipcurate.sample import validate as sampling
from clipcurate.config.check import ConfigError
from clipcurate.evaluate.run import SuiteError
from tests.conftest import hex_uid
from tests.unit.test_score_runner import CONFIG as RUN_CONFIG, UIDS as POOL_UIDS, world  # noqa: F401 - a crafted pool

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
    scorefiles.write_scores(good, pa.array(UIDS), {"score": SCORES}, poolindex.index_fingerprint(index))
    out = tmp_path / "subset.parquet"
    subset.write_recipe_subset("r", {"method": "threshold", "fraction": 0.3}, index, good, out, tmp_path / "subset.npy", 3, 0)
    return {"index": index, "good": good, "out": out, "before": out.read_bytes(), "npy": (tmp_path / "subset.npy").read_bytes()}


def _with_fingerprint(path, table, index):
    """Write ``table`` carrying the index's fingerprint, as if the workflow had written it."""
    fileio.write_table(table, path, fingerprint=poolindex.index_fingerprint(index))
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
    with pytest.raises(fileio.ContractError, match=rf"^{tmp_path}/bad_{kind}\.parquet: {message}"):
        subset.write_recipe_subset("r", cfg, pool["index"], bad, pool["out"], tmp_path / "subset.npy", 3, 0)
    assert pool["out"].read_bytes() == pool["before"]
    assert (tmp_path / "subset.npy").read_bytes() == pool["npy"]


@pytest.mark.parametrize("kind", ["resorted", "other_pool", "score_string"])
def test_bad_score_file_stops_the_mix_job_and_keeps_the_mix(tmp_path, pool, kind):
    out = tmp_path / "mix.parquet"
    specs = [("a", str(pool["good"]), "score"), ("b", str(pool["good"]), "score")]
    mix_files(specs, pool["index"], "sum", {}, out)
    before = out.read_bytes()
    bad = _bad_score_file(kind, tmp_path / "bad.parquet", pool["index"])
    with pytest.raises(fileio.ContractError, match=rf"^{tmp_path}/bad\.parquet: "):
        mix_files([("a", str(pool["good"]), "score"), ("b", str(bad), "score")], pool["index"], "sum", {}, out)
    assert out.read_bytes() == before


def test_resorted_file_is_refused_although_its_fingerprint_matches(tmp_path, pool):
    """The fingerprint in the metadata is the index's, yet the rows are not: alignment compares uids."""
    bad = _bad_score_file("resorted", tmp_path / "bad.parquet", pool["index"])
    assert pq.read_schema(bad).metadata[fileio.FINGERPRINT_KEY].decode() == poolindex.index_fingerprint(pool["index"])
    assert not alignment.same_uids(bad, pool["index"])
    assert alignment.same_uids(pool["good"], pool["index"])


@pytest.mark.parametrize("block", [1, 3, 4, 1 << 20])
def test_streamed_uid_comparison_finds_a_swap_in_any_block(tmp_path, make_index, monkeypatch, block):
    """Blocks of the file and the index need not line up; a swap of two rows anywhere is found."""
    index = make_index(UIDS)
    monkeypatch.setattr(alignment, "ALIGN_BLOCK", block)
    for i in range(N - 1):
        swapped = list(UIDS)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        path = tmp_path / f"s{i}.parquet"
        pq.write_table(pa.table({"uid": pa.array(swapped)}), path, row_group_size=3)
        assert not alignment.same_uids(path, index)
    ok = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"uid": pa.array(UIDS, pa.large_string())}), ok, row_group_size=4)
    assert alignment.same_uids(ok, index)


@pytest.mark.parametrize(
    "kind, message",
    [("empty", r"pool index is empty \(0 bytes\)"), ("truncated", r"pool index is not a readable parquet file")],
)
def test_bad_pool_index_is_named(tmp_path, pool, kind, message):
    index = Path(pool["index"])
    index.write_bytes(b"" if kind == "empty" else index.read_bytes()[:-30])
    with pytest.raises(fileio.ContractError, match=rf"^{index}: {message}"):
        subset.write_recipe_subset("r", {"method": "all"}, index, None, pool["out"], None, 3, 0)
    assert pool["out"].read_bytes() == pool["before"]


def test_keep_column_of_floats_is_refused_by_the_sampler_too():
    with pytest.raises(sampling.SamplingError, match=r"recipes\.r\.sample\.method: 'keep' needs a boolean 'keep' column; it has dtype float64"):
        subset.select({"method": "keep"}, {"keep": np.full(4, 0.9)}, 4, 4, 0, recipe="r")


def test_truncated_subset_is_named(tmp_path, pool):
    from clipcurate.pool.reshard import reshard

    bad = tmp_path / "cut.parquet"
    bad.write_bytes(pool["out"].read_bytes()[:-20])
    out = tmp_path / "reshard"
    with pytest.raises(fileio.ContractError, match=rf"^{bad}: subset is not a readable parquet file"):
        reshard(bad, pool["index"], tmp_path / "shards", out, 5, 5, 0)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# imports (import_subset / import_scores): a file's form is refused when the workflow is planned,
# its content by the import job, which then leaves the earlier score file as it was

FOREIGN = [hex_uid(1000 + i) for i in range(3)]


def _npy(path, pairs):
    with open(path, "wb") as f:
        np.save(f, pairs)
    return path


def _bad_import(kind, path):
    """(method, params) of an import entry reading the bad file written to ``path``."""
    pairs = uidcodec.uids_to_pairs(POOL_UIDS[:3])
    if kind == "foreign_subset":
        _npy(path, uidcodec.uids_to_pairs(FOREIGN))
    elif kind == "foreign_scores":
        pq.write_table(pa.table({"uid": FOREIGN, "score": [1.0, 2.0, 3.0]}), path)
        return "import_scores", {}
    elif kind == "mostly_foreign_subset":  # 1 of 3 distinct uids in the pool: below the default 0.5
        _npy(path, uidcodec.uids_to_pairs([POOL_UIDS[0], *FOREIGN[:2]]))
    elif kind == "repeats":
        _npy(path, uidcodec.uids_to_pairs([POOL_UIDS[0], POOL_UIDS[1], POOL_UIDS[1], POOL_UIDS[1], POOL_UIDS[2]]))
    elif kind == "zero_rows_npy":
        _npy(path, pairs[:0])
    elif kind == "zero_rows_parquet":
        pq.write_table(pa.table({"uid": pa.array([], pa.string()), "score": pa.array([], pa.float64())}), path)
        return "import_scores", {}
    elif kind == "f8_f8":
        _npy(path, pairs.astype("f8,f8"))
    elif kind == "two_columns":
        _npy(path, np.stack([pairs["f0"], pairs["f1"]], axis=1))
    elif kind == "zero_bytes_npy":
        path.write_bytes(b"")
    elif kind == "truncated_npy":
        _npy(path, pairs)
        path.write_bytes(path.read_bytes()[:-10])
    elif kind == "string_score":
        pq.write_table(pa.table({"uid": POOL_UIDS, "score": [str(i) for i in range(len(POOL_UIDS))]}), path)
        return "import_scores", {}
    elif kind == "empty_parquet":
        path.write_bytes(b"")
        return "import_scores", {}
    elif kind == "truncated_parquet":
        pq.write_table(pa.table({"uid": POOL_UIDS, "score": np.arange(len(POOL_UIDS), dtype=float)}), path)
        path.write_bytes(path.read_bytes()[:-40])
        return "import_scores", {}
    elif kind == "missing_column":
        pq.write_table(pa.table({"uid": POOL_UIDS, "clip_b32": np.arange(len(POOL_UIDS), dtype=float)}), path)
        return "import_scores", {"column": "clip_l14"}
    else:
        raise AssertionError(kind)
    return "import_subset", {}


IMPORT_JOB_CASES = [  # the job reads the content: refused with the numbers
    ("foreign_subset", "npy", r"only 0 of the file's 3 distinct uids are in the pool \(0\.0%\), below params\.min_coverage = 0\.5; expected a file of this pool"),
    ("mostly_foreign_subset", "npy", r"only 1 of the file's 3 distinct uids are in the pool \(33\.3%\), below params\.min_coverage = 0\.5"),
    ("foreign_scores", "parquet", r"only 0 of the pool's 7 samples have a value in the file \(0\.0%\), below params\.min_coverage = 0\.5"),
    ("repeats", "npy", rf"1 of its 3 distinct uids are listed more than once \(2 extra rows of 5; up to 3 times, e\.g\. uid {hex_uid(2)}\); 'sample: {{method: keep}}' takes each listed sample once"),
    ("zero_rows_npy", "npy", r"the uid list has 0 rows; expected the subset's uids"),
    ("zero_rows_parquet", "parquet", r"the score file has 0 rows"),
]
IMPORT_PLAN_CASES = [  # the header or schema is wrong: refused when the workflow is planned
    ("f8_f8", "npy", r"expected DataComp's subset format, a 1-D \.npy of structured dtype u8,u8 \(the uid's two 64-bit halves\); found dtype \[\('f0', '<f8'\), \('f1', '<f8'\)\] shape \(3,\)"),
    ("two_columns", "npy", r"expected DataComp's subset format, .*; found dtype <u8 shape \(3, 2\)"),
    ("zero_bytes_npy", "npy", r"file to import is empty \(0 bytes\); expected DataComp's \.npy of u8,u8 uids"),
    ("truncated_npy", "npy", r"\.npy is truncated: its header says shape \(3,\) of dtype \[\('f0', '<u8'\), \('f1', '<u8'\)\] \(176 bytes\), the file has 166 bytes"),
    ("string_score", "parquet", r"column 'score' has type string; expected a numeric \(integer or float\) score column"),
    ("empty_parquet", "parquet", r"file to import is empty \(0 bytes\); expected a parquet file"),
    ("truncated_parquet", "parquet", r"file to import is not a readable parquet file .*truncated or corrupt"),
    ("missing_column", "parquet", r"no column 'clip_l14' \(params\.column\); it has \['uid', 'clip_b32'\]"),
]


def _run_import(name, method, params, path):
    from clipcurate.scores.plan import plan_score, report_path, score_files
    from clipcurate.scores.runner import run_score

    config = {**RUN_CONFIG, "scores": {name: {"method": method, "file": str(path), "params": params}}}
    plan = plan_score(config, name)
    out = f"results/scores/{name}.parquet"
    run_score(plan.to_dict(), score_files(plan, chunks=["00000", "00001"]), out, report_path=report_path(name))


@pytest.fixture
def earlier_import(world):
    """A good import run earlier: the score file and report a failed import must leave as they were."""
    good = _npy(Path("good.npy"), uidcodec.uids_to_pairs(POOL_UIDS[:4]))
    _run_import("imp", "import_subset", {}, good)
    out, rep = Path("results/scores/imp.parquet"), Path("results/scores/imp.report.json")
    return out, rep, out.read_bytes(), rep.read_bytes()


@pytest.mark.parametrize("kind, ext, message", IMPORT_JOB_CASES, ids=[c[0] for c in IMPORT_JOB_CASES])
def test_bad_import_content_stops_the_import_job_and_keeps_the_scores(earlier_import, kind, ext, message):
    out, rep, before, rep_before = earlier_import
    path = Path(f"bad_{kind}.{ext}")
    method, params = _bad_import(kind, path)
    with pytest.raises(fileio.ContractError, match=rf"^{path}: {message}"):
        _run_import("imp", method, params, path)
    assert out.read_bytes() == before and rep.read_bytes() == rep_before


def test_an_import_below_the_coverage_passes_with_a_lower_minimum_and_repeats_with_count(world):
    """The two refusals are thresholds, not bans: the same files import when the config says so."""
    _bad_import("mostly_foreign_subset", Path("m.npy"))
    _run_import("m", "import_subset", {"min_coverage": 0.3}, "m.npy")
    assert scorefiles.read_scores("results/scores/m.parquet", "results/pool/index.parquet")["keep"].tolist() == [True] + [False] * 6
    _bad_import("repeats", Path("r.npy"))
    _run_import("r", "import_subset", {"repeats": "count"}, "r.npy")
    assert scorefiles.read_scores("results/scores/r.parquet", "results/pool/index.parquet")["score"].tolist() == [1, 3, 1, 0, 0, 0, 0]
    assert json.loads(Path("results/scores/r.report.json").read_text())["max_times_listed"] == 3


@pytest.mark.parametrize("kind, ext, message", IMPORT_PLAN_CASES, ids=[c[0] for c in IMPORT_PLAN_CASES])
def test_bad_import_form_is_refused_at_planning_and_by_the_job(earlier_import, kind, ext, message):
    from clipcurate.mix.plan import check_scores
    from clipcurate.scores.plan import PlanError

    out, rep, before, rep_before = earlier_import
    path = Path(f"bad_{kind}.{ext}")
    method, params = _bad_import(kind, path)
    config = {**RUN_CONFIG, "scores": {"imp": {"method": method, "file": str(path), "params": params}}}
    with pytest.raises(PlanError, match=rf"^config: scores\.imp\.file: {path}: {message}"):
        check_scores(config)
    # a file that goes bad after planning (planned from a good one): the job names it too
    from clipcurate.scores.plan import plan_score, report_path, score_files
    from clipcurate.scores.runner import run_score

    good = Path(f"good_{kind}.{ext}")
    if ext == "npy":
        _npy(good, uidcodec.uids_to_pairs(POOL_UIDS))
    else:
        pq.write_table(pa.table({"uid": POOL_UIDS, params.get("column", "score"): np.arange(7.0)}), good)
    plan = plan_score({**RUN_CONFIG, "scores": {"imp": {"method": method, "file": str(good), "params": params}}}, "imp")
    good.write_bytes(path.read_bytes())
    with pytest.raises(fileio.ContractError, match=rf"^{good}: {message.replace('bad_', 'good_')}"):
        run_score(plan.to_dict(), score_files(plan, chunks=["00000", "00001"]), str(out), report_path=report_path("imp"))
    assert out.read_bytes() == before and rep.read_bytes() == rep_before


# --------------------------------------------------------------------------------------------
# DataComp metadata: values img2dataset would silently turn into failed samples are refused


SHA = "0123456789abcdef" * 4
BOXES = [[], [[0.1, 0.2, 0.3, 0.4]], [[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.6, 0.7]]]


def _metadata(**override):
    cols = {"uid": pa.array(UIDS[:3]), "url": pa.array([f"http://x/{i}.jpg" for i in range(3)]),
            "text": pa.array(["a", None, "c"]), "sha256": pa.array([SHA, SHA, None]),
            "face_bboxes": pa.array(BOXES, pa.list_(pa.list_(pa.float64())))}
    cols.update(override)
    return pa.table(cols)


METADATA_CASES = [
    ("sha_short", {"sha256": pa.array([SHA, "abc123", SHA])}, r"row 1, column 'sha256': 'abc123'; expected 64 lowercase hex characters"),
    ("sha_upper", {"sha256": pa.array([SHA, SHA, SHA.upper()])}, r"row 2, column 'sha256': '0123456789ABCDEF.*'; expected 64 lowercase hex characters"),
    ("sha_int", {"sha256": pa.array([1, 2, 3])}, r"column 'sha256' has type int64; expected 64 lowercase hex characters"),
    ("uid_short", {"uid": pa.array([UIDS[0], UIDS[1], "abc"])}, r"row 2, column 'uid': 'abc'; expected 32 hex characters"),
    ("url_null", {"url": pa.array(["http://x/0.jpg", None, "http://x/2.jpg"])}, r"row 1, column 'url': missing \(null\); expected a URL string"),
    ("box_of_three", {"face_bboxes": pa.array([[], [[0.1, 0.2, 0.3, 0.4]], [[0.0, 0.0, 1.0, 1.0], [0.5, 0.5, 0.6]]], pa.list_(pa.list_(pa.float64())))},
     r"row 2, column 'face_bboxes': box \[0\.5, 0\.5, 0\.6\]; expected a list of boxes \(empty when the image has no face\), each a list of four numbers"),
    ("box_nan", {"face_bboxes": pa.array([[], [[0.1, float("nan"), 0.3, 0.4]], []], pa.list_(pa.list_(pa.float64())))}, r"row 1, column 'face_bboxes': box \[0\.1, nan, 0\.3, 0\.4\]"),
    ("boxes_null", {"face_bboxes": pa.array([[], None, []], pa.list_(pa.list_(pa.float64())))}, r"row 1, column 'face_bboxes': missing \(null\)"),
    ("boxes_flat", {"face_bboxes": pa.array([[0.1, 0.2, 0.3, 0.4]] * 3, pa.list_(pa.float64()))}, r"column 'face_bboxes' has type list<\w+: double>; expected a list of boxes"),
    ("boxes_strings", {"face_bboxes": pa.array([[["a"]]] * 3)}, r"column 'face_bboxes' has type list<\w+: list<\w+: string>>; expected"),
]


@pytest.mark.parametrize("kind, override, message", METADATA_CASES, ids=[c[0] for c in METADATA_CASES])
def test_bad_metadata_stops_the_download_before_it_starts(tmp_path, kind, override, message):
    from clipcurate.pool import download as pool_mod

    meta = tmp_path / "metadata"
    meta.mkdir()
    pq.write_table(_metadata(), meta / "00000000.parquet")
    bad = meta / "00000001.parquet"
    pq.write_table(_metadata(**override), bad)
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "earlier.txt").write_text("kept")
    cfg = {"verify_sha256": True, "bbox_col": "face_bboxes", "samples_per_shard": 5}
    with pytest.raises(fileio.ContractError, match=rf"^{bad}: {message}"):
        pool_mod.download_pool(meta, shards, cfg)
    assert (shards / "earlier.txt").read_text() == "kept" and not pool_mod.partial_dir(shards).exists()


def test_good_metadata_passes_row_by_row(tmp_path, monkeypatch):
    """Empty box lists, null captions and batches that split the file are fine; a bad row in a later
    batch is named by its row in the file."""
    from clipcurate.pool import metadata_check

    monkeypatch.setattr(metadata_check, "BATCH_ROWS", 2)
    path = tmp_path / "m.parquet"
    pq.write_table(_metadata(), path)
    assert metadata_check.check_file(path, ["uid", "url", "text", "sha256", "face_bboxes"], bbox_col="face_bboxes") == 3
    pq.write_table(_metadata(sha256=pa.array([SHA, SHA, "x" * 64])), path)
    with pytest.raises(fileio.ContractError, match=r"row 2, column 'sha256'"):
        metadata_check.check_file(path, ["sha256"])


def test_a_bad_uid_in_metadata_names_file_and_row_when_mapping_precomputed_rows(tmp_path, make_index):
    from clipcurate.pool import precomputed

    meta = tmp_path / "metadata"
    meta.mkdir()
    pq.write_table(_metadata(uid=pa.array([UIDS[0], "g" * 32, UIDS[2]])), meta / "00000000.parquet")
    with pytest.raises(fileio.ContractError, match=rf"^{meta}/00000000\.parquet: row 1, column 'uid': '{'g' * 32}'; expected 32 hex characters"):
        precomputed.build_row_map(make_index(UIDS[:3]), meta, tmp_path / "rows.parquet")
    assert not (tmp_path / "rows.parquet").exists()


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
    fileio.write_table(table, index, fingerprint=uidcodec.uid_fingerprint(table.column("uid")))
    return d, index


def _cut_tar(path: Path, keep_bytes: int):
    path.write_bytes(path.read_bytes()[:keep_bytes])


@pytest.mark.parametrize(
    "cut, message",
    [(512 * 8 + 100, r"shard is truncated \(4196 bytes, not whole 512-byte tar blocks\)"),  # inside an image
     (512 * 12, r"shard is truncated \(no end-of-archive marker\)")],  # between samples: tarfile ends silently
)
def test_truncated_shard_tar_names_the_shard_in_embedding(shards, cut, message):
    from clipcurate.embed.encode import iter_chunk_samples

    d, index = shards
    shard = d / "00000001.tar"
    _cut_tar(shard, cut)
    with pytest.raises(fileio.ContractError, match=rf"^{shard}: {message}; expected a complete webdataset tar"):
        list(iter_chunk_samples(index, d, 0))


def test_corrupt_tar_header_names_the_shard_and_the_lost_sample(shards):
    """tarfile stops without an error at a damaged member header; the index says what is missing."""
    from clipcurate.embed.encode import iter_chunk_samples

    d, index = shards
    shard = d / "00000001.tar"
    data = bytearray(shard.read_bytes())
    data[512 * 12 : 512 * 12 + 100] = b"x" * 100  # the header of the third sample's image
    shard.write_bytes(bytes(data))
    with pytest.raises(fileio.ContractError, match=rf"^{shard}: sample 000100002 \(uid {UIDS[7]}\) is in the index but has no jpg in the shard"):
        list(iter_chunk_samples(index, d, 0))


def test_truncated_shard_tar_names_the_shard_in_resharding(tmp_path, shards):
    from clipcurate.pool.reshard import reshard

    d, index = shards
    sub = tmp_path / "sub.parquet"
    scorefiles.write_subset(sub, None, pa.array(UIDS), np.ones(N, dtype=np.int64))
    shard = d / "00000000.tar"
    _cut_tar(shard, 512 * 8 + 100)  # inside the second sample's image
    out = tmp_path / "train"
    out.mkdir()
    (out / "earlier.txt").write_text("kept")
    with pytest.raises(fileio.ContractError, match=rf"^{shard}: shard is truncated"):
        reshard(sub, index, d, out, 5, 5, 0)
    assert (out / "earlier.txt").read_text() == "kept"


def test_unreadable_tar_member_names_the_shard_and_sample(tmp_path):
    """A member whose data cannot be read (here: a size beyond the file) names the shard and sample."""
    from clipcurate.pool.reshard import _iter_samples

    shard = tmp_path / "00000000.tar"
    _write_shard(shard, [(f"k{k}", _jpeg(k), UIDS[k]) for k in range(2)])
    with tarfile.open(shard) as tf:
        offset = next(m.offset for m in tf if m.name == "k1.jpg")
    data = bytearray(shard.read_bytes())
    info = tarfile.TarInfo("k1.jpg")
    info.size = 10**6  # claims more bytes than the shard holds
    data[offset : offset + 512] = info.tobuf()
    shard.write_bytes(bytes(data))
    with pytest.raises(fileio.ContractError, match=rf"^{shard}: shard is truncated or corrupt \(ReadError: unexpected end of data\) at sample 'k1'"):
        list(_iter_samples(shard))


def test_sample_missing_from_a_shard_is_named(tmp_path, shards):
    from clipcurate.pool.reshard import reshard

    d, index = shards
    _write_shard(d / "00000001.tar", [(f"0001{k:05d}", _jpeg(k), UIDS[5 + k]) for k in range(4)])  # key 000100004 gone
    sub = tmp_path / "sub.parquet"
    scorefiles.write_subset(sub, None, pa.array(UIDS), np.ones(N, dtype=np.int64))
    with pytest.raises(fileio.ContractError, match=rf"00000001\.tar: 1 selected samples are in the pool index but not in the shard, e\.g\. key 000100004 \(uid {UIDS[9]}\)"):
        reshard(sub, index, d, tmp_path / "train", 5, 5, 0)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_image_is_skipped_and_counted_by_embedding(tmp_path, shards, caplog, damage):
    """Not fatal: the sample keeps its row (index order) with a zero image embedding, and is counted."""
    from clipcurate.embed.encode import embed_chunk, read_embeddings

    d, index = shards
    bad_jpg = b"not a jpeg at all" if damage == "garbage" else _jpeg(3)[:200]
    samples = [(f"0000{k:05d}", _jpeg(k), UIDS[k]) for k in range(5)]
    samples[3] = (samples[3][0], bad_jpg, samples[3][2])
    _write_shard(d / "00000000.tar", samples)
    out = tmp_path / "emb.parquet"
    with caplog.at_level(logging.WARNING, logger="clipcurate.embed.encode"):
        stats = embed_chunk(index, d, 0, {"arch": "tiny-clip", "pretrained": None}, out, batch_size=4)
    assert stats["samples"] == N and stats["corrupt_images"] == 1
    emb = read_embeddings(out)
    assert emb["uid"].to_pylist() == UIDS
    norms = np.linalg.norm(emb["image"], axis=1)
    assert norms[3] == 0 and np.allclose(np.delete(norms, 3), 1, atol=1e-3)
    assert json.loads(pq.read_schema(out).metadata[b"clipcurate.corrupt_images"]) == [UIDS[3]]
    assert f"{d / '00000000.tar'}: sample 000000003 (uid {UIDS[3]}): corrupt image skipped" in caplog.text


def test_corrupt_image_is_skipped_and_counted_by_the_flyt_stream(caplog):
    from clipcurate.train.flyt.data import SkipCounter, _decode_images

    counter = SkipCounter()
    samples = [{"__key__": f"k{i}", "__url__": "shard/00000007.tar", "jpg": _jpeg(i) if i != 1 else _jpeg(1)[:150]} for i in range(3)]
    with caplog.at_level(logging.WARNING, logger="clipcurate.train.flyt.data"):
        out = list(_decode_images(iter(samples), counter))
    assert [s["__key__"] for s in out] == ["k0", "k2"] and isinstance(out[0]["jpg"], Image.Image)
    assert counter.images == 1
    assert "shard/00000007.tar: sample k1: corrupt image skipped" in caplog.text


@pytest.mark.parametrize("cut", [512 * 7 + 100, 512 * 12, 512 * 9])
def test_truncated_shard_is_named_before_the_flyt_stream_starts(tmp_path, cut):
    """webdataset reads a tar as a stream, which ends silently where the file was cut: the FLYT
    streams check each shard's end first (inside a sample, at a sample boundary, in the marker)."""
    from clipcurate.train.flyt.data import _shard_urls

    good, shard = tmp_path / "00000000.tar", tmp_path / "00000001.tar"
    for p in (good, shard):
        _write_shard(p, [(f"k{k}", _jpeg(k), UIDS[k]) for k in range(4)])
    assert good.stat().st_size == 20480
    _cut_tar(shard, cut)
    with pytest.raises(fileio.ContractError, match=rf"^{shard}: shard is truncated"):
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
def test_every_shipped_scale_passes_the_checks(extra, tmp_path):
    """No check refuses a shipped configuration (a real scale adds the user's metadata_dir and
    evaluation sets, as config/site.example.yaml does; the evaluation root must exist)."""
    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, yaml.safe_load((REPO / extra).read_text()))
    if cfg["pool"]["source"] == "datacomp":
        cfg["pool"]["metadata_dir"] = "/data/datacomp/metadata"
        cfg["evaluation"]["data_root"] = str(tmp_path)
    config_check.prepare(cfg, REPO)


def test_a_real_scale_evaluation_root_must_exist(tmp_path):
    """At real scale evaluation.data_root is read by every evaluation: a missing folder stops planning."""
    cfg = copy.deepcopy(SHIPPED)
    update_config(cfg, yaml.safe_load((REPO / "config/scales/medium.yaml").read_text()))
    cfg["pool"]["metadata_dir"] = "/data/datacomp/metadata"
    cfg["evaluation"]["data_root"] = str(tmp_path / "eval")
    with pytest.raises(ConfigError, match=rf"^config: evaluation\.data_root: {tmp_path}/eval is not a directory; expected the suite's pre-downloaded evaluation sets"):
        config_check.prepare(copy.deepcopy(cfg), REPO)
    (tmp_path / "eval").mkdir()
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
    ({"recipes": {"x": {"label": "X", "score": "nope", "sample": {"method": "nocap"}}}}, r"config: recipes\.x\.score: unknown score 'nope'; known: \d+ names, the closest \[.*\]"),
    # mixes
    ({"mixes": {"m": {"method": "product", "inputs": ["clip_score"]}}}, r"config key mixes\.m\.method \(set in bad\.yaml\): 'product' is not one of \['identity'"),
    ({"mixes": {"m": {"method": "sum", "inputs": ["clip_score", "eflyt"], "params": {"w": 1}}}}, r"config: mixes\.m\.params: sum: unknown parameter 'w'; known parameters: \[\]"),
    ({"mixes": {"m": {"method": "weighted_sum", "inputs": ["clip_score", "eflyt"]}}}, r"config: mixes\.m\.params: weighted_sum: missing parameter 'weights'"),
    ({"mixes": {"m": {"method": "intersection", "inputs": ["clip_score", "eflyt"], "params": {"fractions": 1.5}}}}, r"config: mixes\.m\.params: fractions\['clip_score'\]: fraction 1\.5 is outside \(0, 1\]"),
    ({"mixes": {"m": {"method": "two_stage", "inputs": ["clip_score", "eflyt"], "params": {"first": "clip_score", "second": "eflyt", "p": 0.2, "q": 0.4}}}}, r"config: mixes\.m\.params: two_stage: q=0\.4 \(a fraction of the original pool\) exceeds p=0\.2"),
    ({"mixes": {"in_weighted_r8": {"params": {"r": 1}}}}, r"config: mixes\.in_weighted_r8\.params: in_weighted: r \(the max-to-min weight ratio\) must be > 1, got 1\.0"),
    ({"mixes": {"mflyt": {"params": {"r": 2}}}}, r"config: mixes\.mflyt\.params: method 'mflyt' takes its weights from its trained artifact \(flyt\.runs\.mflyt\); remove params"),
    ({"mixes": {"m": {"method": "sum", "inputs": ["clip_score", "clip_score"]}}}, r"config: mixes\.m\.params: sum: input name 'clip_score' is used twice"),
    # tables and evaluation
    ({"tables": {"table1": {"rows": [{"recipe": "nope", "label": "N"}], "columns": ["ImageNet"]}}}, r"config: tables\.table1\.rows\[0\]\.recipe: unknown recipe 'nope'"),
    ({"tables": {"table1": {"rows": [{"recipe": "no_filter", "label": "N"}], "columns": ["ImageNet", "Imagenet"]}}}, r"config: tables\.table1\.columns\[1\]: unknown column 'Imagenet'; expected an aggregate"),
    ({"evaluation": {"suite": "datacomp39"}}, r"config: evaluation\.suite: no suite file .*datacomp39\.yaml; known suites: datacomp38, tiny"),
    # models and FLYT
    ({"scale": {"model": "ViT-B-23"}}, r"config: scale\.model: unknown architecture 'ViT-B-23'; expected an open_clip model config name"),
    ({"models": {"openai": {"arch": "tiny_clip"}}}, r"config: models\.openai\.arch: unknown architecture 'tiny_clip'.*shipped one \(tiny-clip, tiny-clip-large\)"),
    ({"models": {"nofilter": {"arch": "ViT-B-32"}}}, r"config: models\.nofilter\.arch: 'ViT-B-32', but its weights results/train/no_filter/.* scale\.model \('tiny-clip'\); expected the same architecture"),
    ({"models": {"openai": {"train": {"dataset": "imagenet"}}}}, r"config: models\.openai\.train\.dataset: unknown reference set 'imagenet'; known: \['downstream', 'hq', 'pretrain', 'retrieval_train'\] \(the world's sets, and reference_sets: for a user's set\)"),
    ({"flyt": {"runs": {"eflyt": {"embed_model": "clip-b32"}}}}, r"config: flyt\.runs\.eflyt\.embed_model: unknown model 'clip-b32'"),
    ({"flyt": {"scorer_train": {"mixers": {"steps": 600}}}}, r"config key flyt\.scorer_train \(set in bad\.yaml\): Additional properties are not allowed \('mixers' was unexpected\)"),
    ({"flyt": {"scorer_train": {"mixer": {"step": 600}}}}, r"config key flyt\.scorer_train\.mixer \(set in bad\.yaml\): Additional properties are not allowed \('step' was unexpected\)"),
    # planning-time checks joining sections (clipcurate.config.plan_checks): found before any job runs
    ({"evaluation": {"data_root": "/no/such/eval"}}, r"config: evaluation\.data_root: '/no/such/eval' has no effect with pool\.source: world \(the tiny world evaluates its own generated tasks"),
    (_recipe({"method": "scs", "alpha": float("inf"), "n": 30000}), r"config: recipes\.x\.sample\.n: 30000 examples without replacement \(alpha = inf\) from a pool of 20000 \(scale\.pool_size\); expected n <= 20000"),
    (_recipe({"method": "scs", "alpha": 0.5, "group_size": 30000, "n": 25000}), r"config: recipes\.x\.sample\.group_size: a round draws min\(group_size, n\) = 25000 distinct examples, more than the pool's 20000"),
    (_recipe({"method": "hcs", "beta": 2, "n": 50000}), r"config: recipes\.x\.sample\.beta: beta \* pool size = 2 \* 20000 = 40000 < n = 50000; the cap cannot reach n \(expected beta >= 3\)"),
    ({"mixes": {"m": {"method": "sum", "inputs": ["clip_score:keep", "eflyt"]}}}, r"config: mixes\.m\.inputs: 'clip_score:keep' reads column 'keep', but score 'clip_score' \(method clip_score\) gives \['score'\]"),
    ({"scores": {"both": {"method": "intersect_keeps", "inputs": ["image_based:keep", "clip_score:keep"]}}}, r"config: scores\.both\.inputs: 'clip_score:keep' reads column 'keep', but score 'clip_score' \(method clip_score\) gives \['score'\]"),
    ({"recipes": {"x": {"label": "X", "score": "image_clip_l14_top30", "sample": {"method": "threshold", "fraction": 0.3}}}}, r"config: recipes\.x\.sample\.method: 'threshold' samples by a score column, but score 'image_clip_l14_top30' \(intersect_keeps\) gives \['keep'\]; use \['keep'\]"),
    ({"mixes": {"m": {"method": "sum", "inputs": ["clip_score", "image_clip_l14_top30"]}}}, r"config: mixes\.m\.inputs: 'image_clip_l14_top30' reads column 'score', but score 'image_clip_l14_top30' \(method intersect_keeps\) gives \['keep'\]; expected one of 'image_clip_l14_top30:keep'"),
    # the pool, the evaluation and table plots (once checked only by the Snakefile's rules)
    ({"models": {"openai": {"precomputed": "b32"}}}, r"config: models\.openai\.precomputed: DataComp's npz embeddings exist only with pool\.source: datacomp"),
    ({"pool": {"source": "datacomp", "metadata_dir": "/data/m"}}, r"config: evaluation\.data_root must name the directory"),
    ({"tables": {"t": {"rows": [{"recipe": "no_filter", "label": "N"}], "columns": ["ImageNet", "Average"], "plot": {"kind": "lines"}}}},
     r"config: tables\.t\.plot\.x: 'dataset size' is not among the table's columns"),
    # scores (PlanError, from clipcurate.scores.plan) and expanded blocks (checked like configured entries)
    ({"scores": {"s": {"method": "clip_score", "model": "nope"}}}, r"config: scores\.s\.model: unknown model 'nope'"),
    ({"dfn_quality": {"base": "nope"}}, r"config: dfn_quality\.base: unknown model 'nope'"),
    ({"recipes": {"dfn_q050_s0_top30": {"label": "X", "sample": {"method": "all"}}}}, r"config: dfn_quality adds recipe 'dfn_q050_s0_top30', which config already defines"),
    ({"models": {"dfn_scratch": {"train": {"dataset": "imagenet"}}}}, r"config: models\.dfn_scratch\.train\.dataset: unknown reference set 'imagenet'"),
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


def test_the_command_line_check_gives_one_line_for_a_planning_check(tmp_path):
    """``python -m clipcurate.config.check`` runs as __main__: an error raised by another module
    (clipcurate.config.plan_checks) is still its ConfigError, printed as one line, not a traceback."""
    import os
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("evaluation:\n  data_root: /no/such/eval\n")
    proc = subprocess.run([sys.executable, "-m", "clipcurate.config.check", "--repo", str(REPO), str(bad)],
                          capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("config: evaluation.data_root: '/no/such/eval' has no effect with pool.source: world (the tiny "
                                   "world evaluates its own generated tasks in resources/world/eval); remove it, or use a real pool")


def test_a_name_defined_twice_is_named(tmp_path):
    (tmp_path / "config" / "recipes").mkdir(parents=True)
    (tmp_path / "config" / "recipes" / "a.yaml").write_text("x: {label: X, sample: {method: all}}\n")
    (tmp_path / "config" / "recipes" / "b.yaml").write_text("x: {label: X2, sample: {method: all}}\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: recipe 'x' is defined twice"):
        config_check.merge_named_files({}, tmp_path, "recipes")


def test_a_config_entry_deep_merges_over_a_file_entry(tmp_path):
    """config/scores/*.yaml defines an entry; a scale file (config) changes one parameter of it."""
    (tmp_path / "config" / "scores").mkdir(parents=True)
    (tmp_path / "config" / "scores" / "a.yaml").write_text("s: {method: m, model: openai, params: {k: 1, t: 2}}\nu: {method: n}\n")
    config = {"scores": {"s": {"params": {"k": 5}}, "v": {"method": "o"}}}
    config_check.merge_named_files(config, tmp_path, "scores")
    assert config["scores"] == {"s": {"method": "m", "model": "openai", "params": {"k": 5, "t": 2}},
                                "u": {"method": "n"}, "v": {"method": "o"}}


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
    cfg = {"method": "hcs", "beta": 4, "batch_size": 1000}  # beta 4 * the tiny pool's 20000 rows >= N = 61440
    assert subset.resolve_sample_cfg(cfg, 10, "x")["batch_size"] == 1000
    _prepare(_recipe(cfg))


PUB = {"pub": {"method": "import_subset", "file": "published.npy"}}  # outputs score, keep and count
COUNT_CASES = [
    # a recipe's sampler reads a column its score or mix must give: found when the config is read
    (_recipe({"method": "counts"}), r"config: recipes\.x\.sample\.method: 'counts' needs a count column \(repeat counts\), but score 'clip_score' \(clip_score\) gives \['score'\]"),
    ({"recipes": {"x": {"label": "X", "mix": "sum", "sample": {"method": "counts"}}}}, r"config: recipes\.x\.sample\.method: 'counts' needs a count column \(repeat counts\), but mix 'sum' \(sum\) gives \['score'\]; use one of \['filter_counts'\]"),
    ({"recipes": {"x": {"label": "X", "score": "basic", "sample": {"method": "threshold", "fraction": 0.3}}}}, r"config: recipes\.x\.sample\.method: 'threshold' samples by a score column, but score 'basic' \(basic\) gives \['keep'\]; use \['keep'\]"),
    ({"recipes": {"x": {"label": "X", "sample": {"method": "counts"}}}}, r"config: recipes\.x\.sample\.method: 'counts' needs a score or a mix"),
    (_recipe({"method": "counts", "n": 3}), r"config key recipes\.x\.sample \(set in bad\.yaml\): key 'n' is not allowed here; allowed keys: method"),
    # filter_counts: the counts input is a score's count column, the others keep columns
    ({"scores": PUB, "mixes": {"m": {"method": "filter_counts", "inputs": ["pub", "basic:keep"], "params": {"counts": "pub"}}}},
     r"config: mixes\.m\.inputs: 'pub' must be a score's count column \(`<score>:count`, from a method that outputs count\)"),
    ({"scores": PUB, "mixes": {"m": {"method": "filter_counts", "inputs": ["clip_score:count", "basic:keep"], "params": {"counts": "clip_score:count"}}}},
     r"config: mixes\.m\.inputs: 'clip_score:count' must be a score's count column .* score 'clip_score' gives \['score'\]"),
    ({"scores": PUB, "mixes": {"m": {"method": "filter_counts", "inputs": ["pub:count", "clip_score"], "params": {"counts": "pub:count"}}}},
     r"config: mixes\.m\.inputs: 'clip_score' must be a score's keep column"),
    ({"scores": PUB, "mixes": {"m": {"method": "filter_counts", "inputs": ["pub:count"], "params": {"counts": "pub:count"}}}},
     r"config: mixes\.m\.params: filter_counts: needs at least one keep input"),
]


@pytest.mark.parametrize("override, message", COUNT_CASES)
def test_count_sources_are_checked_at_planning_time(override, message):
    with pytest.raises(config_check.ConfigError, match=message):
        _prepare(override)


def test_counts_recipes_that_have_counts_pass():
    mixes = {"m": {"method": "filter_counts", "inputs": ["pub:count", "basic:keep", "text_based:keep"], "params": {"counts": "pub:count"}}}
    recipes = {"a": {"label": "A", "score": "pub", "sample": {"method": "counts"}},
               "b": {"label": "B", "mix": "m", "sample": {"method": "counts"}},
               "c": {"label": "C", "mix": "m", "sample": {"method": "keep"}}}
    cfg = _prepare({"scores": PUB, "mixes": mixes, "recipes": recipes})
    assert cfg["recipes"]["b"]["sample"] == {"method": "counts"}


def test_schema_mix_methods_are_the_library_methods():
    enum = _schema()["properties"]["mixes"]["additionalProperties"]["properties"]["method"]["enum"]
    from clipcurate.mix.declared import DECLARED

    assert set(enum) == set(mixing.METHODS) | set(DECLARED)
    assert set(mixing.METHODS) == set(mixing._PARAMS)


def test_schema_world_keys_are_the_generator_keys():
    from clipcurate.world.generate import DEFAULT_CFG

    world = _schema()["properties"]["world"]["properties"]
    assert set(world["kinds"]["properties"]) == set(DEFAULT_CFG["kinds"])
    assert set(world["sizes"]["properties"]) == set(DEFAULT_CFG["sizes"])


def test_table_columns_known_to_the_check_are_the_tables_module_columns():
    assert config_check.TABLE_AGGREGATES == evaluate.AGGREGATES
    assert set(config_check.TABLE_SIZE_COLUMNS) == set(tables.SIZE_COLUMNS)


_RULE_WORD = r"[`'\"]?([A-Za-z_][A-Za-z0-9_]*)[`'\"]?"
#: "rule X" / "rule `X`", and "the X rule" / "with the X job" (a job is named by its rule)
_RULE_REFS = (re.compile(rf"\brule\s+{_RULE_WORD}(?=[\s:,;.)]|$)"),
              re.compile(rf"\b(?:the|a|an|with|by|of|from|in|to)\s+{_RULE_WORD}\s+(?:rule|job)s?\b"))
#: words that stand where a rule name could but are English, not names
_NOT_NAMES = {"this", "that", "these", "each", "every", "one", "no", "some", "other", "any", "same", "its", "their",
              "snakemake", "workflow", "last", "first", "next", "own", "whole", "which", "when", "to", "of", "for",
              "is", "and", "or", "in", "the", "a", "above", "below", "failed", "running", "previous", "later"}


def rule_refs(text: str) -> set[str]:
    """Rule names a message refers to ("the import rule", "rule `score_chunk`")."""
    return {m.group(1) for pat in _RULE_REFS for m in pat.finditer(text)} - _NOT_NAMES


def _messages() -> list[tuple[str, str]]:
    """(where, text) of every message the code raises, logs, warns or prints: the string constants of
    ``raise`` expressions and of logging/warnings/print calls in src/clipcurate and workflow/scripts
    (f-strings contribute their literal parts), and the string literals of ``raise`` lines in rules/."""
    import ast

    out = []
    for f in sorted([*(REPO / "src" / "clipcurate").rglob("*.py"), *(REPO / "workflow" / "scripts").glob("*.py")]):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                msg = node.exc
            elif isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Attribute) and node.func.attr in ("debug", "info", "warning", "error", "exception", "critical", "warn"))
                or (isinstance(node.func, ast.Name) and node.func.id == "print")
            ):
                msg = node
            else:
                continue
            text = "".join(n.value for n in ast.walk(msg) if isinstance(n, ast.Constant) and isinstance(n.value, str))
            out.append((f"{f.relative_to(REPO)}:{node.lineno}", text))
    for f in sorted([*(REPO / "rules").glob("*.smk"), REPO / "Snakefile"]):
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            if "raise " in line:
                window = " ".join(lines[i : i + 4])  # the message may continue on the next lines
                text = " ".join(a or b for a, b in re.findall(r"\"([^\"]*)\"|'([^']*)'", window))
                out.append((f"{f.relative_to(REPO)}:{i + 1}", text))
    return out


def test_rule_references_are_found_in_messages():
    """The extractor itself: the message this test was written for, and forms that are not names."""
    assert rule_refs("(uid x, index has y); re-align it by uid with the import rule") == {"import"}
    assert rule_refs("run rule `score_chunk` first") == {"score_chunk"}
    assert rule_refs("see the 'embed_variant' rule, then the score jobs") == {"embed_variant", "score"}
    assert rule_refs("score files not among the rule's inputs") == set()
    assert rule_refs("keep the rule that writes it, every rule") == set()


def test_no_message_refers_to_a_rule_that_does_not_exist():
    """Every rule a user-facing message names (``raise``, log, warning, print) is a rule of rules/*.smk."""
    rules = {line.split()[1].rstrip(":") for f in (REPO / "rules").glob("*.smk")
             for line in f.read_text().splitlines() if line.startswith("rule ")}
    assert {"score", "score_chunk", "sample", "embed", "mix"} <= rules
    messages = _messages()
    assert len(messages) > 300  # the scan reaches the code's messages (a broken scan would find none)
    wrong = [(where, sorted(rule_refs(text) - rules)) for where, text in messages if rule_refs(text) - rules]
    assert not wrong, f"messages naming rules that do not exist: {wrong}"
