"""Benchmark the Devil paper's distribution-alignment methods (CIDS, quality duplication, BLIP-2 digits).

    .venv/bin/python benchmarks/bench_devil_align.py cids --rows 250000 --dim 512 --centroids 1000 --niter 2
    .venv/bin/python benchmarks/bench_devil_align.py memory --sizes 250000 1000000 --dim 512
    .venv/bin/python benchmarks/bench_devil_align.py quality --rows 1000000 --clusters 1000
    .venv/bin/python benchmarks/bench_devil_align.py blip2 --images 64
    .venv/bin/python benchmarks/bench_devil_align.py blip2_method --images 256 --threads 1

cids: the staged method's stages on synthetic unit vectors split into ``--chunks`` chunks, through
its registered functions (prepare: the survivors' sample; fit: faiss k-means, the downstream
assignment, importance and rates; apply: assignment and the per-row draws). Prints the median of
``--repeats`` runs per stage, throughput, the peak RSS, and the time extrapolated to a fit of
``--target-sample-ratio`` x ``--target-rows`` sampled rows x ``--target-centroids`` x 20 iterations and
an apply over ``--target-rows`` (k-means and assignment cost grow as rows x centroids x dim;
iterations linearly). With ``--sample-ratio`` the fit's per-cluster totals are the sample's estimates,
so the draws' total departs from the target by more than sampling error (printed).

memory: the peak RSS of the CIDS fit job and of one apply job, each in a fresh process, at each of
``--sizes`` pool rows (the fit clusters ``--sample-ratio`` of them, as at real scale), and the line
through the two sizes extrapolated to ``--target-rows`` (128M).

quality: the group stage's per-cluster counts (:func:`clipcurate.scores.helpers.alignment.quality_counts` through
:func:`clipcurate.scores.groups.run_clusters`) over ``--rows`` members in ``--clusters`` clusters.

blip2: images/s of :func:`clipcurate.scores.helpers.digit_detect.ask_blip2` with a tiny randomly initialised BLIP-2
(saved and loaded through :func:`clipcurate.scores.helpers.digit_detect.load_blip2`: measures the plumbing, not a
real model), and the GPU-hours per 128M images estimated from the published sizes of BLIP-2
OPT-2.7b (EVA ViT-g/14: 1.0B parameters over 257 patch tokens at 224 px; Q-Former 107M over 32
queries; OPT-2.7B over 32 query + the prompt's tokens, then ``--new-tokens`` decoded): forward FLOPs
~ 2 x parameters x tokens, at ``--utilisation`` of an A100's 312 bf16 TFLOP/s.

blip2_method: the score method ``digits_blip2`` through the score runner (the rule's path: plan, one
chunk job reading ``--images`` JPEGs of 64 px from webdataset shards of 100, the tiny BLIP-2, the
counts, the score file), images/s and peak RSS, beside ``ask_blip2`` alone on the same decoded images:
the difference is the method's own cost (shard reading, decoding, writing).

Prints medians; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def unit_rows(rng, n, d, centers=None):
    if centers is None:
        x = rng.standard_normal((n, d), dtype=np.float32)
    else:
        x = centers[rng.integers(0, len(centers), n)] + 0.3 * rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _ctx(stage, chunk=None, threads=1):
    from clipcurate.scores.stages import StageContext

    return StageContext(stage, chunk=chunk, threads=threads)


def _params(args):
    from clipcurate.scores.methods.cids import DEFAULTS

    return {**DEFAULTS, "centroids": args.centroids, "niter": args.niter, "sample_ratio": args.sample_ratio,
            "fraction": 0.2, "seed": 0}


def _chunks(args, rng):
    centers = unit_rows(rng, 200, args.dim)
    per = args.rows // args.chunks
    return [unit_rows(rng, per, args.dim, centers) for _ in range(args.chunks)], unit_rows(rng, args.reference, args.dim, centers[:50])


def run_cids_once(args, chunks, ref):
    from clipcurate.scores import cids as C
    from clipcurate.scores.stages import Prepared

    params = _params(args)
    t = {}
    t0 = time.perf_counter()
    prepared = [C.prepare(params, _ctx("prepare", c), {"uid": None, "image": x}, {"b": np.ones(len(x), bool)})
                for c, x in enumerate(chunks)]
    t["prepare"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitted = C.fit(params, _ctx("fit", threads=args.threads), Prepared(prepared), {"image": ref})
    t["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    total = 0
    for c, x in enumerate(chunks):
        out = C.cids(params, _ctx("apply", c, args.threads), fitted, prepared[c], {"uid": None, "image": x},
                     {"b": np.ones(len(x), bool)})
        total += int(out["count"].sum())
    t["apply"] = time.perf_counter() - t0
    return t, total


def bench_cids(args) -> int:
    import faiss

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    chunks, ref = _chunks(args, rng)
    runs = [run_cids_once(args, chunks, ref) for _ in range(args.repeats)]
    med = {s: statistics.median(r[0][s] for r in runs) for s in ("prepare", "fit", "apply")}
    n = args.rows
    print(f"cids rows={n:,} dim={args.dim} centroids={args.centroids} niter={args.niter} reference={args.reference:,} "
          f"chunks={args.chunks} threads={args.threads} repeats={args.repeats}")
    for s, v in med.items():
        print(f"  {s}: median {v:.2f} s ({n / v:,.0f} rows/s)  runs: {', '.join(f'{r[0][s]:.2f}' for r in runs)}")
    print(f"  draws: {runs[0][1]:,} (target {int(0.2 * n):,}); peak RSS {peak_rss_gb():.2f} GB")
    fit_rows = n * (args.sample_ratio or 1.0)
    target_fit_rows = args.target_rows * args.target_sample_ratio
    fit_scale = (target_fit_rows / fit_rows) * (args.target_centroids / args.centroids) * (20 / args.niter)
    apply_scale = (args.target_rows / n) * (args.target_centroids / args.centroids)
    print(f"  extrapolated (cost ~ rows x centroids x iterations) to a fit of {target_fit_rows:,.0f} sampled rows "
          f"(sample_ratio {args.target_sample_ratio}) x {args.target_centroids:,} centroids x 20 iterations: "
          f"{med['fit'] * fit_scale / 3600:,.0f} core-hours on these cores; apply over {args.target_rows:,} rows: "
          f"{med['apply'] * apply_scale / 3600:,.0f} core-hours (spread over the chunks' jobs)")
    return 0


def _memory_job(args) -> int:
    """One job in this (fresh) process: the fit or one chunk's apply at --rows rows; prints JSON."""
    from clipcurate.scores import cids as C
    from clipcurate.scores.stages import Prepared

    rng = np.random.default_rng(0)
    params = _params(args)
    centers = unit_rows(rng, 200, args.dim)
    base_rss = peak_rss_gb()
    if args.job == "fit":
        # the fit reads every chunk's prepared sample: --sample-ratio of the rows
        per = 1_000_000
        prepared = []
        for c in range(0, args.rows, per):
            n = min(per, args.rows - c)
            k = int(n * args.sample_ratio)
            prepared.append({"sample": unit_rows(rng, k, args.dim, centers), "n_kept": np.array([n]), "n_rows": np.array([n])})
        prepared_rss = peak_rss_gb()
        C.fit(params, _ctx("fit"), Prepared(prepared), {"image": unit_rows(rng, args.reference, args.dim, centers[:50])})
        # an upper bound: the workflow's fit reads the prepared chunks one at a time (Prepared), here they are all held
        out = {"job": "fit", "rows": args.rows, "peak_gb": peak_rss_gb() - base_rss, "inputs_gb": prepared_rss - base_rss}
    else:
        fitted = {"centroids": unit_rows(rng, args.centroids, args.dim), "rates": np.full(args.centroids, 0.2),
                  "importance": np.ones(args.centroids)}
        n = min(args.rows, args.chunk_rows)
        x = np.empty((n, args.dim), np.float32)  # filled in blocks: no temporaries above the array itself
        for lo in range(0, n, 65536):
            x[lo:lo + 65536] = unit_rows(rng, min(65536, n - lo), args.dim, centers)
        base_rss = peak_rss_gb()  # the job reads its chunk one row group (at most 2^20 rows) at a time
        C.cids(params, _ctx("apply", 0), fitted, {}, {"uid": None, "image": x}, {"b": np.ones(n, bool)})
        out = {"job": "apply", "rows": args.rows, "peak_gb": peak_rss_gb() - base_rss}
    print(json.dumps(out))
    return 0


def bench_memory(args) -> int:
    res = {}
    for job in ("fit", "apply"):
        for n in args.sizes:
            cmd = [sys.executable, __file__, "_job", "--job", job, "--rows", str(n), "--dim", str(args.dim),
                   "--centroids", str(args.centroids), "--niter", str(args.niter), "--sample-ratio", str(args.sample_ratio),
                   "--reference", str(args.reference), "--chunk-rows", str(args.chunk_rows)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            res[(job, n)] = json.loads(out.stdout.strip().splitlines()[-1])["peak_gb"]
        (a, b) = args.sizes
        if job == "apply":
            print(f"cids apply: peak RSS growth over its row group of embeddings {res[(job, a)]:.2f} GB at {min(a, args.chunk_rows):,} "
                  f"rows, {res[(job, b)]:.2f} GB at {min(b, args.chunk_rows):,} rows: a job holds one row group (2^20 rows) "
                  f"whatever the pool's size, so this is its bound at {args.target_rows:,}")
            continue
        slope = (res[(job, b)] - res[(job, a)]) / (b - a)
        at = res[(job, b)] + slope * (args.target_rows - b)
        print(f"cids {job}: peak RSS growth {res[(job, a)]:.2f} GB at {a:,} rows, {res[(job, b)]:.2f} GB at {b:,} rows "
              f"(sample_ratio {args.sample_ratio}, dim {args.dim}, centroids {args.centroids}) -> {at:.1f} GB at {args.target_rows:,} "
              f"(straight line)")
    return 0


def bench_quality(args) -> int:
    from clipcurate.scores.helpers import alignment as A
    from clipcurate.scores.groups import run_clusters

    rng = np.random.default_rng(0)
    members = {"row": np.arange(args.rows), "group": rng.integers(0, args.clusters, args.rows),
               "q": rng.random(args.rows).astype(np.float32), "base": np.ones(args.rows, np.uint32)}

    def f(sub):
        c = A.quality_counts(sub["q"], sub["base"], sub["row"], 1, 2, 0.5)
        return {"count": c, "keep": c > 0}

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run_clusters(members, f, ("count", "keep"))
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"quality_dup group: {args.rows:,} members in {args.clusters:,} clusters, median {med:.2f} s "
          f"({args.rows / med:,.0f} members/s), peak RSS {peak_rss_gb():.2f} GB")
    return 0


def bench_blip2(args) -> int:
    import torch

    from clipcurate.scores.helpers import digit_detect as D

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.unit.test_digits import _save_tiny_blip2

    from PIL import Image

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        _save_tiny_blip2(Path(tmp) / "tiny")
        model, processor = D.load_blip2(Path(tmp) / "tiny")
        rng = np.random.default_rng(0)
        images = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(args.images)]
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            D.ask_blip2(model, processor, images, max_new_tokens=args.new_tokens, batch_size=32)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"blip2 tiny random checkpoint on CPU ({args.threads} threads): {args.images} images, median {med:.2f} s "
          f"({args.images / med:.1f} images/s; preprocessing, generation and parsing, not a real model's cost)")
    vit, patches, qformer, queries, llm = 1.0e9, 257, 107e6, 32, 2.7e9
    prompt = args.prompt_tokens  # OPT's BPE tokens of DEFAULT_PROMPT with its BOS (the tiny tokenizer splits words)
    flops = 2 * vit * patches + 2 * qformer * queries + 2 * llm * (queries + prompt) + 2 * llm * args.new_tokens
    per_s = 312e12 * args.utilisation
    hours = args.target_images * flops / per_s / 3600
    print(f"BLIP-2 OPT-2.7b estimate: {flops / 1e12:.2f} TFLOP per image (ViT-g 1.0B x 257 tokens, Q-Former 107M x 32, "
          f"OPT-2.7B x {queries + prompt} prompt tokens + {args.new_tokens} decoded); at {args.utilisation:.0%} of an A100's "
          f"312 bf16 TFLOP/s: {args.target_images / hours / 3600:,.0f} images/s, {hours:,.0f} A100-hours per "
          f"{args.target_images:,} images")
    return 0


def bench_blip2_method(args) -> int:
    import io as stdio

    import pyarrow as pa
    import torch
    import webdataset as wds
    from PIL import Image

    from clipcurate.core import fileio, scorefiles, uidcodec
    from clipcurate.scores.helpers import digit_detect as D
    from clipcurate.scores.plan import plan_score, score_files
    from clipcurate.scores.runner import run_score

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.unit.test_digits import _save_tiny_blip2

    torch.set_num_threads(args.threads)
    n, per_shard = args.images, 100
    rng = np.random.default_rng(0)
    jpegs = []
    for _ in range(n):
        buf = stdio.BytesIO()
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
        jpegs.append(buf.getvalue())
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            _save_tiny_blip2(Path("tiny"))
            uids = [f"{i + 1:032x}" for i in range(n)]
            shards = [i // per_shard for i in range(n)]
            keys = [f"{s:05d}{i % per_shard:04d}" for i, s in enumerate(shards)]
            fp = uidcodec.uid_fingerprint(pa.array(uids))
            fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array(shards, pa.int32()), "key": pa.array(keys),
                                     "chunk": pa.array([0] * n, pa.int32())}), "results/pool/index.parquet", fingerprint=fp)
            Path("results/pool/shards").mkdir(parents=True)
            for s_ in sorted(set(shards)):
                with wds.TarWriter(f"results/pool/shards/{s_:08d}.tar") as w:
                    for i in [i for i in range(n) if shards[i] == s_]:
                        w.write({"__key__": keys[i], "jpg": jpegs[i], "txt": "a caption"})
            scorefiles.write_scores("results/scores/prev.parquet", pa.array(uids), {"count": rng.integers(0, 2, n).astype(np.uint32)},
                            fingerprint=fp)
            config = {"pool": {"source": "world"}, "models": {}, "scores": {
                "prev": {"method": "compose_counts"},
                "dig": {"method": "digits_blip2", "blip2": "tiny", "base": "prev:count",
                        "params": {"batch_size": 32, "max_new_tokens": args.new_tokens, "device": "cpu"}}}}
            plan = plan_score(config, "dig").to_dict()
            files = score_files(plan, chunk="00000")
            method, alone = [], []
            model, processor = D.load_blip2("tiny")
            decoded = [Image.open(stdio.BytesIO(j)).convert("RGB") for j in jpegs]
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                run_score(plan, files, "results/scores/dig.parquet", chunk=0)
                method.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                D.ask_blip2(model, processor, decoded, max_new_tokens=args.new_tokens, batch_size=32)
                alone.append(time.perf_counter() - t0)
        finally:
            os.chdir(here)
    m, a = statistics.median(method), statistics.median(alone)
    print(f"digits_blip2 through the score runner, tiny random BLIP-2 on CPU ({args.threads} threads): {n} images in "
          f"{len(set(shards))} shards, median {m:.2f} s ({n / m:.1f} images/s; model loading included); ask_blip2 alone "
          f"on the decoded images {a:.2f} s ({n / a:.1f} images/s); peak RSS {peak_rss_gb():.2f} GB")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["cids", "memory", "quality", "blip2", "blip2_method", "_job"])
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--centroids", type=int, default=1000)
    ap.add_argument("--niter", type=int, default=2)
    ap.add_argument("--reference", type=int, default=10_000)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sample-ratio", type=float, default=0.03)
    ap.add_argument("--sizes", type=int, nargs=2, default=[250_000, 1_000_000])
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    ap.add_argument("--target-rows", type=int, default=128_000_000)
    ap.add_argument("--target-centroids", type=int, default=100_000)
    ap.add_argument("--target-sample-ratio", type=float, default=0.03)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=3)
    ap.add_argument("--utilisation", type=float, default=0.4)
    ap.add_argument("--prompt-tokens", type=int, default=14)
    ap.add_argument("--target-images", type=int, default=128_000_000)
    ap.add_argument("--job", choices=["fit", "apply"], default="fit")
    args = ap.parse_args()
    return {"cids": bench_cids, "memory": bench_memory, "quality": bench_quality, "blip2": bench_blip2,
            "blip2_method": bench_blip2_method, "_job": _memory_job}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
