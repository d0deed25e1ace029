"""Benchmark the staged pool-level jobs (clipcurate.scores.stages, clipcurate.scores.groups).

    .venv/bin/python benchmarks/bench_pool_stages.py image_based --rows 100000 --dim 768 --centroids 1000 --niter 2
    .venv/bin/python benchmarks/bench_pool_stages.py memory --sizes 1000000 4000000

image_based: the staged image-based filter's fit (the chunks' samples streamed into one array, then
faiss k-means as DataComp configures it) and its apply (inner-product assignment per chunk, keep by
target cluster) on synthetic unit vectors split into ``--chunks`` chunks. The caption pre-filter's
language ID is benchmarked by ``bench_baselines.py basic``. Prints the median time of each stage,
its throughput, the peak RSS, and the time extrapolated to ``--target-rows`` x ``--target-centroids``
(k-means and assignment cost grow as rows x centroids x dim; the fit's memory as its rows x dim).

memory: the peak RSS of every pool-level job, each run in a fresh process on synthetic files, at
each of ``--sizes`` pool rows, and a straight line through them extrapolated to ``--target-rows``
(128M, DataComp's medium pool), beside what the job declares. Jobs: the gather of a chunk-level
score (one float and one bool column), the gather of a grouped method (half the rows in clusters),
one group shard job (``--group-shards`` of them; member arrays of ``--member-dim``), and a
pool-level method (DataComp's CLIP-score fraction threshold over a pool score column). The
per-chunk jobs (prepare, apply) hold one chunk, whatever the pool's size.

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


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


# --------------------------------------------------------------------------------------------
# image_based: fit + apply


def bench_image_based(args) -> int:
    import faiss

    from clipcurate.scores import get
    from clipcurate.scores.stages import Prepared, StageContext

    m = get("image_based")
    rng = np.random.default_rng(args.seed)
    per = -(-args.rows // args.chunks)
    chunks = [unit_rows(rng, min(per, args.rows - c * per), args.dim) for c in range(args.chunks)]
    ref = unit_rows(rng, args.reference, args.dim)
    params = {**m.defaults, "centroids": args.centroids, "niter": args.niter, "seed": args.seed}
    threads = args.threads or faiss.omp_get_max_threads()
    print(f"image_based staged: {args.rows:,} x {args.dim} in {args.chunks} chunks, {args.centroids:,} centroids, "
          f"{args.niter} iterations, {threads} threads, faiss GPUs: {faiss.get_num_gpus() if hasattr(faiss, 'get_num_gpus') else 0}")
    tf, ta = [], []
    for r in range(args.repeats):
        prepared = Prepared([{"prefilter": np.ones(len(x), bool), "sample": x} for x in chunks])
        t = time.perf_counter()
        fitted = m.stages.fit(params, StageContext("fit", threads=threads), prepared, ref={"image": ref})
        tf.append(time.perf_counter() - t)
        t = time.perf_counter()
        kept = 0
        for c, x in enumerate(chunks):
            out = m.func(params, StageContext("apply", chunk=c, threads=threads), fitted=fitted,
                         prepared={"prefilter": np.ones(len(x), bool)}, emb={"uid": range(len(x)), "image": x})
            kept += int(out["keep"].sum())
        ta.append(time.perf_counter() - t)
        print(f"  repeat {r}: fit {tf[-1]:.1f} s, apply {ta[-1]:.1f} s ({len(fitted['target'])} target clusters, "
              f"kept {kept / args.rows:.3f})")
    mf, ma = statistics.median(tf), statistics.median(ta)
    print(f"fit: median {mf:.1f} s ({mf / args.niter:.2f} s/iteration incl. the reference assignment), "
          f"apply: median {ma:.1f} s ({args.rows / ma:,.0f} rows/s), peak RSS {peak_rss_gb():.2f} GB")
    scale = (args.target_rows / args.rows) * (args.target_centroids / args.centroids)
    fit_rows = args.target_rows  # DataComp's max_points_per_centroid (10M) never caps these sizes
    print(f"extrapolated to {args.target_rows:,} x {args.dim} into {args.target_centroids:,} centroids on these "
          f"{threads} threads: fit ~{mf / args.niter * scale:,.0f} s per iteration "
          f"(x{args.target_niter} = {mf / args.niter * scale * args.target_niter / 3600:.1f} h), "
          f"assignment ~{ma * scale:,.0f} s; fit memory >= {fit_rows * args.dim * 4 / 1e9:.1f} GB of samples")
    return 0


# --------------------------------------------------------------------------------------------
# memory of the pool-level jobs


def _uids(n: int, seed: int):
    import pyarrow as pa

    raw = np.random.default_rng(seed).integers(0, 2**63, size=(n, 2), dtype=np.int64).view(np.uint64)
    return pa.array([f"{a:016x}{b:016x}" for a, b in raw], pa.string())


def make_files(root: Path, n: int, chunk_rows: int, group_shards: int, member_dim: int) -> None:
    """Synthetic index, chunk score files, grouped chunk files, group results and a pool score file."""
    import pyarrow as pa

    from clipcurate.core import fileio, poolindex, scorefiles, uidcodec
    from clipcurate.scores import groups as G

    rng = np.random.default_rng(0)
    uids = _uids(n, 0)
    chunks = np.arange(n) // chunk_rows
    fileio.write_table(pa.table({"uid": uids, "shard": pa.array(chunks.astype(np.int32)), "key": pa.array(np.arange(n).astype(str)),
                                 "chunk": pa.array(chunks.astype(np.int32))}), root / "index.parquet",
                       fingerprint=uidcodec.uid_fingerprint(uids))
    score = rng.random(n, dtype=np.float32)
    scorefiles.write_scores(root / "results/scores/pool_score.parquet", uids, {"score": score},
                            fingerprint=poolindex.index_fingerprint(root / "index.parquet"))
    group = np.where(rng.random(n) < 0.5, rng.integers(0, max(1, n // 100), n), -1)
    for c in range(int(chunks.max()) + 1):
        lo, hi = c * chunk_rows, min(n, (c + 1) * chunk_rows)
        cols = {"score": score[lo:hi], "keep": score[lo:hi] > 0.5}
        scorefiles.write_scores(root / f"chunk_{c:05d}.parquet", uids[lo:hi], cols, fingerprint=None)
        G.write_grouped_chunk(root / f"grouped_{c:05d}.parquet", uids[lo:hi], lo, cols, group[lo:hi],
                              {"x": rng.standard_normal((hi - lo, member_dim), dtype=np.float32)}, group_shards)
    rows = np.flatnonzero(group >= 0)
    G.write_group_result(root / "groups_00000.parquet", {"row": rows, "score": np.zeros(len(rows), np.float32),
                                                          "keep": np.ones(len(rows), bool)})


def current_rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


class RssSampler:
    """The largest resident set seen every few milliseconds while the block runs."""

    def __enter__(self):
        import threading

        self.start = self.peak = current_rss_gb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, current_rss_gb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_gb())


def run_job(kind: str, root: Path, group_shards: int) -> dict:
    """One job in this (fresh) process; returns its seconds, peak RSS and the job's own growth."""
    from clipcurate.scores import groups as G
    from clipcurate.scores.plan import plan_score
    from clipcurate.scores.runner import gather, run_score

    chunks = sorted(root.glob("chunk_*.parquet"))
    grouped = sorted(root.glob("grouped_*.parquet"))
    sampler = RssSampler().__enter__()
    t = time.perf_counter()
    if kind == "gather":
        gather(chunks, root / "index.parquet", root / "out_gather.parquet")
    elif kind == "gather_grouped":
        G.gather(grouped, [root / "groups_00000.parquet"], root / "index.parquet", root / "out_grouped.parquet", ("score", "keep"))
    elif kind == "group":
        members = G.read_members(grouped, 0)
        G.run_clusters(members, lambda m: {"score": m["x"] @ m["x"].mean(0), "keep": np.ones(len(m["row"]), bool)},
                       ("score", "keep"))
    elif kind == "pool_method":
        cfg = {"pool": {"source": "world"}, "models": {}, "mixes": {},
               "scores": {"pool_score": {"method": "clip_score", "model": "m"},
                          "top": {"method": "clip_threshold", "input": "pool_score", "params": {"fraction": 0.3}}}}
        cfg["models"]["m"] = {"arch": "x"}
        plan = plan_score(cfg, "top")
        os.chdir(root)  # score files are read at the workflow's relative paths
        run_score(plan, {"index": "index.parquet", "scores": ["results/scores/pool_score.parquet"]}, "out_top.parquet")
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - t
    sampler.__exit__(None, None, None)
    # sampled: ru_maxrss of a child starts at its parent's resident set (Linux keeps it across exec)
    return {"seconds": seconds, "peak_gb": sampler.peak, "import_gb": sampler.start,
            "job_gb": sampler.peak - sampler.start}


JOBS = {  # job -> (stage whose declared resources it runs under, what grows with the pool)
    "gather": ("gather", "uid + output columns of the pool"),
    "gather_grouped": ("gather", "group results (row + columns) of the grouped rows"),
    "group": ("group", "members of one shard: ~ n / group_shards rows x member arrays"),
    "pool_method": ("gather", "the pool's input score column"),
}


def bench_memory(args) -> int:
    from clipcurate.scores.stages import DEFAULT_RESOURCES

    results: dict[str, list] = {k: [] for k in JOBS}
    for n in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            root = Path(tmp)
            t = time.perf_counter()
            make_files(root, n, args.chunk_rows, args.group_shards, args.member_dim)
            print(f"{n:,} rows: synthetic files in {time.perf_counter() - t:.0f} s")
            for kind in JOBS:
                runs = []
                for _ in range(args.repeats):
                    out = subprocess.run([sys.executable, __file__, "_job", kind, str(root), str(args.group_shards)],
                                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                    if out.returncode:
                        print(out.stderr[-3000:])
                        return 1
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                peak = statistics.median(r["peak_gb"] for r in runs)
                job = statistics.median(r["job_gb"] for r in runs)
                sec = statistics.median(r["seconds"] for r in runs)
                results[kind].append((n, job, sec, runs[0]["import_gb"]))
                print(f"  {kind:15s} median {sec:6.1f} s, peak RSS {peak:6.2f} GB: {runs[0]['import_gb']:.2f} GB after "
                      f"imports + {job:.2f} GB for the job")
    print(f"\nextrapolated to {args.target_rows:,} rows (a straight line through the measured sizes; chunks of "
          f"{args.chunk_rows:,} rows, {args.group_shards} group shards, member arrays of {args.member_dim} float32):")
    for kind, pts in results.items():
        (n0, p0, _, base), (n1, p1, _, _) = pts[0], pts[-1]
        slope = (p1 - p0) / (n1 - n0) if n1 != n0 else 0.0
        at = base + p0 + slope * (args.target_rows - n0)
        declared = DEFAULT_RESOURCES[JOBS[kind][0]].mem_mb / 1000
        print(f"  {kind:15s} {at:7.1f} GB at {args.target_rows:,} rows ({slope * 1e9:.1f} bytes/row; grows with "
              f"{JOBS[kind][1]}); declared by default: {declared:.0f} GB")
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "_job":
        print(json.dumps(run_job(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    k = sub.add_parser("image_based", help="staged image-based fit + apply")
    k.add_argument("--rows", type=int, default=100_000)
    k.add_argument("--dim", type=int, default=768)
    k.add_argument("--centroids", type=int, default=1000)
    k.add_argument("--niter", type=int, default=2)
    k.add_argument("--chunks", type=int, default=4)
    k.add_argument("--reference", type=int, default=10_000, help="downstream-train rows the fit assigns")
    k.add_argument("--repeats", type=int, default=3)
    k.add_argument("--threads", type=int, default=None, help="faiss OpenMP threads (default: all cores)")
    k.add_argument("--target-rows", type=int, default=1_000_000)
    k.add_argument("--target-centroids", type=int, default=10_000)
    k.add_argument("--target-niter", type=int, default=20)
    k.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("memory", help="peak RSS of the pool-level jobs, extrapolated")
    m.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000])
    m.add_argument("--chunk-rows", type=int, default=1_000_000, help="rows per chunk (medium: 1M)")
    m.add_argument("--group-shards", type=int, default=64)
    m.add_argument("--member-dim", type=int, default=64)
    m.add_argument("--repeats", type=int, default=1)
    m.add_argument("--target-rows", type=int, default=128_000_000)
    m.add_argument("--tmp", default=None, help="folder for the synthetic files (default: the system's)")
    args = ap.parse_args(argv)
    return bench_image_based(args) if args.what == "image_based" else bench_memory(args)


if __name__ == "__main__":
    sys.exit(main())
