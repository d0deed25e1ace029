"""The real-scale path end to end on CPU, on a synthetic pool written in DataComp's own layout.

The pool is what DataComp ships: metadata parquet files named by a 32-hex hash with DataComp's
columns (``face_bboxes`` and ``sha256`` included, a few hashes deliberately wrong), each with its
row-aligned ``.npz`` of ``b32_img/b32_txt/l14_img/l14_txt`` embeddings (small dimensions), and URLs
served on 127.0.0.1 by this test. The images and the evaluation sets come from the tiny-world
library, generated here (not through the workflow's ``world`` rule).

The run uses ``pool.source: datacomp`` and the README's command shape (one ``--configfile`` with the
scale file and the site file), goes through download (hash-verified), the precomputed-embedding
CLIP score, sampling, training, evaluation and table1, and checks that:

- no tiny-world rule ran (the Snakemake logs), and the oracle row is dropped from the table and named;
- the CLIP score equals the dot product of the normalised npz vectors, computed here independently;
- images whose bytes do not match the metadata's sha256 are counted and left out;
- a download killed mid-way resumes: the finished shard is neither fetched again nor rewritten;
- shards a user already has (``pool.shards_dir``) are indexed without any download.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from clipcurate.pool.download import free_port, serve_directory
from clipcurate.world import generate_world

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]

POOL = 600
PER_SHARD = 100
FILE_ROWS = (350, 250)  # two metadata files: 4 and 3 img2dataset shards
DIMS = {"b32": 16, "l14": 24}
BAD_SHA = 5  # served images whose metadata sha256 is wrong
GATED_SHARD = 1  # its images are held back until the first run has been killed

# a scale-like config small enough for two CPU cores (the real scale files hold DataComp's table)
TEST_SCALE = {
    "scale": {"pool_size": POOL, "samples_per_shard": PER_SHARD, "chunk_shards": 4, "batch_size": 32,
              "lr": 2.0e-3, "samples_seen": 960, "warmup": 3, "reshard_shard_size": 200,
              "shuffle_buffer": 200, "workers": 0},
    "download": {"processes": 1, "threads": 8, "image_size": 32, "resize_mode": "center_crop",
                 "bbox_col": "face_bboxes", "retries": 0, "timeout": 30, "verify_sha256": True},
    "models": {"openai": {"arch": "tiny-clip", "pretrained": None, "precomputed": "b32", "train": None}},
    "evaluation": {"suite": "tiny", "batch_size": 256},
    # DataComp's files do not hold a multiple of samples_per_shard each, so img2dataset's last shard
    # of every file is short and the pool has more shards than pool_size / samples_per_shard
    "pool": {"num_shards": 7},
    # as config/scales/*.yaml do: a real pool names DataComp's ImageNet-21k class list and the
    # ImageNet-train shards for the baselines (checked when the workflow starts, even where table1
    # does not use them)
    "scores": {"text_based": {"method": "text_based", "params": {"wnids": "resources/imagenet21k_wordnet_ids.txt"}}},
    "reference_sets": {"downstream": "resources/imagenet_train"},  # the image-based baseline's ImageNet-train
}


def write_datacomp_pool(world: Path, out: Path, seed: int = 0) -> dict:
    """Rewrite the world's pool in DataComp's layout; return the truth this test checks against."""
    meta = pq.read_table(world / "pool" / "metadata.parquet").to_pylist()
    truth = {r["uid"]: r for r in pq.read_table(world / "truth.parquet").to_pylist()}
    rng = np.random.default_rng(seed)
    served_ok = [i for i, r in enumerate(meta) if truth[r["uid"]]["kind"] == "clean"]
    bad = set(rng.choice(served_ok, BAD_SHA, replace=False).tolist())
    out.mkdir(parents=True)
    files, start = [], 0
    for n in FILE_ROWS:
        rows = meta[start : start + n]
        name = hashlib.sha256(f"part{start}".encode()).hexdigest()[:32]
        vecs = {}
        for kind, dim in DIMS.items():
            for side in ("img", "txt"):
                x = rng.standard_normal((n, dim)).astype(np.float32)
                vecs[f"{kind}_{side}"] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)
        np.savez_compressed(out / f"{name}.npz", **vecs)
        sims = {k: np.einsum("ij,ij->i", vecs[f"{k}_img"].astype(np.float32), vecs[f"{k}_txt"].astype(np.float32))
                for k in DIMS}
        table = pa.table({
            "uid": pa.array([r["uid"] for r in rows], pa.string()),
            "url": pa.array([r["url"] for r in rows], pa.string()),
            "text": pa.array([r["text"] for r in rows], pa.string()),
            "original_width": pa.array([r["original_width"] for r in rows], pa.int64()),
            "original_height": pa.array([r["original_height"] for r in rows], pa.int64()),
            "clip_b32_similarity_score": pa.array(sims["b32"], pa.float32()),
            "clip_l14_similarity_score": pa.array(sims["l14"], pa.float32()),
            "face_bboxes": pa.array([[[0.1, 0.1, 0.4, 0.5]] if (start + i) % 7 == 0 else [] for i in range(n)],
                                    pa.list_(pa.list_(pa.float64()))),
            "sha256": pa.array([("0" * 64 if start + i in bad else r["sha256"]) for i, r in enumerate(rows)], pa.string()),
        })
        pq.write_table(table, out / f"{name}.parquet")
        files.append((name, [r["uid"] for r in rows]))
        start += n
    # img2dataset reads the files in name order: shards 0.. come from the first name
    return {"files": sorted(files), "bad_uids": {meta[i]["uid"] for i in bad}, "meta": meta}


class Requests:
    """Counts the test server's GETs per uid and phase; holds one shard's images back while gated."""

    def __init__(self, gated: set[str]):
        self.gated, self.open = gated, threading.Event()
        self.phase, self.log, self.lock = 1, [], threading.Lock()

    def __call__(self, path: str) -> None:
        uid = Path(path).stem
        with self.lock:
            self.log.append((self.phase, uid))
        if uid in self.gated:
            self.open.wait(timeout=120)

    def uids(self, phase: int) -> set[str]:
        with self.lock:
            return {u for p, u in self.log if p == phase}


def ran_rules(workdir: Path) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job in the Snakemake logs of all runs in ``workdir``."""
    jobs = []
    for log in sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log")):
        text = log.read_text()
        for m in re.finditer(r"^(?:local)?rule (\w+):\n((?:    .*\n)*)", text, re.M):
            wc = re.search(r"wildcards: (.*)", m.group(2))
            jobs.append((m.group(1), wc.group(1) if wc else ""))
    return jobs


@pytest.mark.workflow
def test_datacomp_layout_end_to_end(tmp_path):
    world, workdir = tmp_path / "world", tmp_path / "work"
    workdir.mkdir()
    port = free_port()
    generate_world(world, {"pool_size": POOL, "sizes": {"pretrain": 0, "hq": 0, "downstream": 0,
                                                          "retrieval_train": 0, "eval_per_task": 40}},
                   base_url=f"http://127.0.0.1:{port}", seed=0)
    pool = write_datacomp_pool(world, tmp_path / "datacomp" / "metadata")
    first_file = pool["files"][0][1]
    gated = set(first_file[GATED_SHARD * PER_SHARD : (GATED_SHARD + 1) * PER_SHARD])
    shard0 = set(first_file[:PER_SHARD])

    scale_file, site_file = tmp_path / "scale.yaml", tmp_path / "site.yaml"
    scale_file.write_text(yaml.safe_dump(TEST_SCALE))
    # the user's site file, as config/site.example.yaml describes it
    site_file.write_text(yaml.safe_dump({
        "pool": {"source": "datacomp", "metadata_dir": str(tmp_path / "datacomp" / "metadata")},
        "evaluation": {"data_root": str(world / "eval")},
    }))
    # the README's command shape: one --configfile, the scale file then the site file
    cmd = [*SNAKEMAKE, "--directory", str(workdir), "results/tables/table1.csv", "--cores", "2",
           "--configfile", str(scale_file), str(site_file)]
    partial = workdir / "results" / "pool" / "shards.partial"

    requests = Requests(gated)
    with serve_directory(world, port, on_request=requests):
        # 1. start, and kill the whole run once shard 0 is finished and shard 1 is being fetched
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        deadline = time.time() + 150
        while not ((partial / "00000000_stats.json").exists() and requests.uids(1) & gated):
            if proc.poll() is not None or time.time() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError(f"the download never reached shard {GATED_SHARD}:\n{proc.stdout.read()[-4000:]}")
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        tar0 = os.stat(partial / "00000000.tar")
        assert not (partial / f"{GATED_SHARD:08d}_stats.json").exists()
        requests.phase = 2
        requests.open.set()

        # 2. the same command again (after the unlock a killed run needs) finishes the run
        subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--unlock", "--configfile",
                        str(scale_file), str(site_file)], check=True, capture_output=True)
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]

    # the resumed download fetched every image of the unfinished shards, none of the finished one,
    # and kept the finished shard's file as it was
    assert not requests.uids(2) & shard0
    assert gated <= requests.uids(2)
    shards = workdir / "results" / "pool" / "shards"
    tar0_after = os.stat(shards / "00000000.tar")
    assert (tar0_after.st_ino, tar0_after.st_mtime_ns) == (tar0.st_ino, tar0.st_mtime_ns)
    assert not partial.exists()

    # hash verification: each wrong sha256 is one "hash mismatch" failure, and that image is not in the pool
    report = json.loads((workdir / "results" / "pool" / "download_report.json").read_text())
    index = pq.read_table(workdir / "results" / "pool" / "index.parquet")
    index_uids = index.column("uid").to_pylist()
    assert report["resumed_shards"] == 1 and report["sha256_verified"] is True
    assert report["hash_mismatch"] == BAD_SHA
    assert report["success"] == len(index_uids) and report["total"] == POOL
    assert not pool["bad_uids"] & set(index_uids)
    assert sorted(report["shards"]) == [f"{s:08d}" for s in range(7)]

    # no rule of the tiny world was planned or ran, and no oracle score
    jobs = ran_rules(workdir)
    rules = {r for r, _ in jobs}
    assert {"download", "pool_index", "metadata_rows", "embed", "score_chunk", "score", "sample", "reshard",
            "train", "evaluate", "table"} <= rules, rules
    assert not rules & {"world", "pool_metadata", "train_reference_model"}
    assert not [wc for r, wc in jobs if "truth" in wc]
    assert not (workdir / "resources").exists()

    # the CLIP score is the dot product of the normalised npz b32 vectors (computed here, in float64)
    where = {}
    for name, uids in pool["files"]:
        z = np.load(tmp_path / "datacomp" / "metadata" / f"{name}.npz")
        img, txt = z["b32_img"].astype(np.float64), z["b32_txt"].astype(np.float64)
        img /= np.linalg.norm(img, axis=1, keepdims=True)
        txt /= np.linalg.norm(txt, axis=1, keepdims=True)
        for i, u in enumerate(uids):
            where[u] = float(img[i] @ txt[i])
    scores = pq.read_table(workdir / "results" / "scores" / "clip_score.parquet")
    assert scores.column("uid").to_pylist() == index_uids
    expected = np.array([where[u] for u in index_uids])
    np.testing.assert_allclose(scores.column("score").to_numpy(), expected, atol=1e-5)
    # ... which is DataComp's clip_b32_similarity_score column up to its float16 storage
    meta_sim = {}
    for name, _ in pool["files"]:
        t = pq.read_table(tmp_path / "datacomp" / "metadata" / f"{name}.parquet", columns=["uid", "clip_b32_similarity_score"])
        meta_sim.update(zip(t.column("uid").to_pylist(), t.column("clip_b32_similarity_score").to_pylist()))
    np.testing.assert_allclose(expected, [meta_sim[u] for u in index_uids], atol=5e-3)

    # the CLIP-score subset is exactly the top 30 % by the independent scores
    subset = pq.read_table(workdir / "results" / "subsets" / "clip_score_top30.parquet")
    k = subset.num_rows
    assert k == int(0.3 * len(index_uids))
    top = {index_uids[i] for i in np.argsort(-expected, kind="stable")[:k]}
    assert set(subset.column("uid").to_pylist()) == top

    # table1: the oracle row is dropped, the csv keeps its columns, the .md says which row and why
    rows = list(csv.DictReader(open(workdir / "results" / "tables" / "table1.csv")))
    assert [r["method"] for r in rows] == ["No filtering", "CLIP score (top 30%)"]
    scores = ["ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Average"]
    assert list(rows[0]) == ["method", *scores, "dataset size", *[f"{c}_se" for c in scores]]
    for r in rows:
        assert 0.0 <= float(r["Average"]) <= 1.0
    assert int(rows[0]["dataset size"]) == len(index_uids)
    md = (workdir / "results" / "tables" / "table1.md").read_text()
    assert "Ground-truth clean" in md and "truth_clean" in md and "Note:" in md

    # shards a user already has: another work directory indexes them, with no download rule at all
    again = tmp_path / "again"
    again.mkdir()
    have = tmp_path / "have.yaml"
    have.write_text(yaml.safe_dump({"pool": {"shards_dir": str(shards)}}))
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(again), "results/pool/index.parquet", "--cores", "1",
                           "--configfile", str(scale_file), str(site_file), str(have)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {r for r, _ in ran_rules(again)} == {"pool_index"}
    assert pq.read_table(again / "results" / "pool" / "index.parquet").column("uid").to_pylist() == index_uids
    assert not (again / "results" / "pool" / "shards").exists()
