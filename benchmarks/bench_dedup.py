"""Benchmark the dedup stage's staged methods: SemDeDup and embedding near duplicates.

    OMP_NUM_THREADS=2 nice .venv/bin/python benchmarks/bench_dedup.py semdedup --sizes 250000 500000 --dim 512
    OMP_NUM_THREADS=2 nice .venv/bin/python benchmarks/bench_dedup.py near_dup --sizes 250000 500000 --dim 512
    OMP_NUM_THREADS=2 nice .venv/bin/python benchmarks/bench_dedup.py semdedup --memory --sizes 1000000 4000000

Each size runs in a fresh process on synthetic clustered unit vectors (``--rows / --per-cluster``
centres, Gaussian noise, and 10 % planted near copies of earlier rows), split into ``--chunks``
chunks, through the method's own stage functions in the workflow's order: ``prepare`` per chunk,
``fit`` (faiss spherical k-means, ``--niter`` iterations, as many clusters as keep ``--per-cluster``
rows per cluster: the reference's 50,000 clusters at 128M are 2,560 a cluster; on ``clusters x 256``
sampled rows, faiss's default ``max_points_per_centroid`` that the reference keeps),
``apply`` per chunk (nearest centroid), and ``group`` (members regrouped into ``--group-shards``
shards, the per-cluster function over every cluster; :func:`clipcurate.scores.groups.run_clusters`).
The regrouping's file shuffle is benchmarked by ``bench_pool_stages.py memory``.

Prints, per size, the median over ``--repeats`` of each stage's wall time and throughput, and the
process's peak RSS; then a straight line through the sizes' times and peak memory extrapolated to
``--target-rows`` (128M): the fit's time grows as rows x clusters x iterations (rows x rows at a
fixed cluster size, the sample growing with the clusters; the reference's fit runs on GPUs), the
apply's as rows x clusters, the group's as rows x cluster size. Memory: the fit holds its rows (128M
x 512 float32 = 262 GB: at real scale the prepare jobs keep a ``sample_ratio``), a group job its
shard's members (rows / group_shards). With ``--memory``, each size's fit job and one group job run
alone in fresh processes (the group job on its shard's rows, clusters of ``--per-cluster``), and their
peak RSS is extrapolated along a straight line to 128M rows (``--target-group-shards`` group jobs).
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def clustered(rng, n, d, per_cluster, block=65536):
    """Unit vectors around n / per_cluster centres, with 10 % near copies of earlier rows; filled
    block by block, so that generating them holds no temporary of the whole array."""
    k = max(1, n // per_cluster)
    centres = rng.standard_normal((k, d), dtype=np.float32)
    scale = np.float32(0.6 * np.linalg.norm(centres, axis=1).mean() / np.sqrt(d))
    x = np.empty((n, d), np.float32)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        x[lo:hi] = centres[rng.integers(0, k, hi - lo)] + scale * rng.standard_normal((hi - lo, d), dtype=np.float32)
    copies = np.sort(rng.choice(np.arange(n // 2, n), size=n // 10, replace=False))
    for lo in range(0, len(copies), block):
        c = copies[lo:lo + block]
        x[c] = x[c - n // 2] + 0.02 * rng.standard_normal((len(c), d), dtype=np.float32)
    for lo in range(0, n, block):
        x[lo:lo + block] /= np.linalg.norm(x[lo:lo + block], axis=1, keepdims=True)
    return x


def child(args) -> dict:
    import faiss

    from clipcurate.scores import get
    from clipcurate.scores import groups as G
    from clipcurate.scores.stages import Prepared, StageContext

    faiss.omp_set_num_threads(args.threads)
    m = get(args.method)
    n, d = args.rows, args.dim
    k = max(1, n // args.per_cluster)
    params = {**m.defaults, "clusters": k, "niter": args.niter, "group_shards": args.group_shards, "seed": 0}
    if args.method == "semdedup":
        params["eps"] = args.eps
    else:
        params["threshold"] = args.threshold
    x = clustered(np.random.default_rng(args.seed), n, d, args.per_cluster)
    bounds = np.linspace(0, n, args.chunks + 1).astype(int)
    chunks = [x[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    times = {"prepare": 0.0, "fit": 0.0, "apply": 0.0, "group": 0.0}
    ctx = lambda s, c=None: StageContext(s, chunk=c, threads=args.threads)  # noqa: E731
    t = time.perf_counter()
    prepared = Prepared([m.stages.prepare(params, ctx("prepare", c), {"uid": None, "image": xc}) for c, xc in enumerate(chunks)])
    times["prepare"] = time.perf_counter() - t
    rss_prepare = peak_rss_gb()
    t = time.perf_counter()
    fitted = m.stages.fit(params, ctx("fit"), prepared)
    times["fit"] = time.perf_counter() - t
    del prepared
    t = time.perf_counter()
    applied = [m.func(params, ctx("apply", c), fitted, {}, {"uid": range(len(xc)), "image": xc}) for c, xc in enumerate(chunks)]
    times["apply"] = time.perf_counter() - t
    group = np.concatenate([a["group"] for a in applied])
    members = {name: np.concatenate([a["members"][name] for a in applied]) for name in applied[0]["members"]}
    del applied
    removed = 0
    t = time.perf_counter()
    shard = G.shard_of(group, args.group_shards)
    for s in range(args.group_shards):
        rows = np.flatnonzero(shard == s)
        sub = {"row": rows, "uid": rows, "group": group[rows], **{k2: v[rows] for k2, v in members.items()}}
        out = G.run_clusters(sub, lambda mem: m.stages.group(params, ctx("group"), fitted, mem), m.outputs)
        removed += int((~out["keep"]).sum()) if "keep" in out else 0
    times["group"] = time.perf_counter() - t
    sizes = np.bincount(group, minlength=k)
    return {"rows": n, "dim": d, "clusters": k, "largest_cluster": int(sizes.max()), "removed": removed,
            "times": times, "peak_rss_gb": peak_rss_gb(), "rss_before_fit_gb": rss_prepare}


def job_child(args) -> dict:
    """One job of a pool of ``args.rows`` rows, alone in this process, for its peak RSS: ``fit``
    (spherical k-means of the clusters x 256 sample rows it keeps) or ``group`` (one of
    ``--group-shards`` shards: its members and the per-cluster function over its clusters)."""
    from clipcurate.scores import get
    from clipcurate.scores import groups as G
    from clipcurate.scores.stages import Prepared, StageContext

    m = get(args.method)
    k = max(1, args.rows // args.per_cluster)
    params = {**m.defaults, "clusters": k, "niter": args.niter, "group_shards": args.group_shards, "seed": 0,
              "eps": args.eps, "threshold": args.threshold}
    params = {p: v for p, v in params.items() if p in m.defaults}
    rng = np.random.default_rng(args.seed)
    base = peak_rss_gb()
    t = time.perf_counter()
    if args.job == "fit":
        n = min(args.rows, k * int(params["max_points_per_centroid"]))
        x = clustered(rng, n, args.dim, args.per_cluster)
        m.stages.fit(params, StageContext("fit", threads=args.threads), Prepared([{"sample": x}]))
    else:
        n = args.rows // args.group_shards
        x = clustered(rng, n, args.dim, args.per_cluster)
        group = np.arange(n) // args.per_cluster  # clusters of --per-cluster members
        members = {"row": np.arange(n), "uid": np.arange(n), "group": group, "x": x,
                   "sim": np.ones(n, np.float32)}
        if args.method == "near_dup":
            members.pop("sim")
        G.run_clusters(members, lambda mem: m.stages.group(params, StageContext("group", threads=args.threads), None, mem),
                       m.outputs)
    return {"job": args.job, "rows": args.rows, "job_rows": n, "seconds": time.perf_counter() - t,
            "peak_rss_gb": peak_rss_gb(), "baseline_gb": base}


def bench_memory(args) -> int:
    """Peak RSS of a fit job and of a group job at each size, each alone in a fresh process, and a
    straight line through them to ``--target-rows`` (group jobs: ``--target-group-shards`` of them)."""
    print(f"{args.method} jobs, peak RSS, each in a fresh process ({args.dim}-d, clusters of {args.per_cluster} rows, "
          f"fit on clusters x 256 rows, group jobs of rows / {args.group_shards}):")
    out = {"fit": [], "group": []}
    for job in ("fit", "group"):
        for n in args.sizes:
            cmd = [sys.executable, __file__, args.method, "--job", job, "--rows", str(n), "--dim", str(args.dim),
                   "--per-cluster", str(args.per_cluster), "--niter", str(args.niter), "--eps", str(args.eps),
                   "--threshold", str(args.threshold), "--group-shards", str(args.group_shards),
                   "--threads", str(args.threads), "--seed", str(args.seed)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            out[job].append(r)
            print(f"  {job:5s} pool {n:>13,} rows: the job holds {r['job_rows']:>11,} rows, {r['seconds']:7.1f} s, "
                  f"peak RSS {r['peak_rss_gb']:.2f} GB")
    T = args.target_rows
    fit = fit_line([r["job_rows"] for r in out["fit"]], [r["peak_rss_gb"] for r in out["fit"]],
                   min(T, T // args.per_cluster * 256))
    grp = fit_line([r["job_rows"] for r in out["group"]], [r["peak_rss_gb"] for r in out["group"]],
                   T // args.target_group_shards)
    print(f"extrapolated to {T:,} rows ({T // args.per_cluster:,} clusters): fit job {fit:,.1f} GB "
          f"({T // args.per_cluster * 256:,} sample rows); group job {grp:,.1f} GB "
          f"(1/{args.target_group_shards} of the pool: {T // args.target_group_shards:,} rows)")
    return 0


def fit_line(xs, ys, at):
    if len(xs) < 2:
        return float("nan")
    a, b = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(a * at + b)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=("semdedup", "near_dup"))
    p.add_argument("--memory", action="store_true", help="peak RSS of a fit job and a group job at each size")
    p.add_argument("--job", choices=("fit", "group"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--target-group-shards", type=int, default=64)
    p.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000])
    p.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)  # a child's size
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--per-cluster", type=int, default=2560)
    p.add_argument("--niter", type=int, default=20)
    p.add_argument("--eps", type=float, default=0.07)
    p.add_argument("--threshold", type=float, default=0.95)
    p.add_argument("--chunks", type=int, default=4)
    p.add_argument("--group-shards", type=int, default=8)
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-rows", type=int, default=128_000_000)
    p.add_argument("--target-niter", type=int, default=100)
    args = p.parse_args(argv)
    if args.rows is not None:
        print(json.dumps(job_child(args) if args.job else child(args)))
        return 0
    if args.memory:
        return bench_memory(args)
    results = []
    for n in args.sizes:
        runs = []
        for _ in range(args.repeats):
            cmd = [sys.executable, __file__, args.method, "--rows", str(n), "--dim", str(args.dim),
                   "--per-cluster", str(args.per_cluster), "--niter", str(args.niter), "--eps", str(args.eps),
                   "--threshold", str(args.threshold), "--chunks", str(args.chunks), "--group-shards", str(args.group_shards),
                   "--threads", str(args.threads), "--seed", str(args.seed)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        med = {s: statistics.median(r["times"][s] for r in runs) for s in runs[0]["times"]}
        total = sum(med.values())
        rss = statistics.median(r["peak_rss_gb"] for r in runs)
        r0 = runs[0]
        print(f"{args.method}: {n:,} x {args.dim}, {r0['clusters']} clusters (largest {r0['largest_cluster']}), "
              f"{args.niter} k-means iterations, {args.threads} threads, median of {len(runs)}:")
        for s, v in med.items():
            print(f"  {s:8s} {v:8.2f} s  {n / v if v else float('inf'):12,.0f} rows/s")
        print(f"  total    {total:8.2f} s  removed {r0['removed']:,} ({r0['removed'] / n:.1%}); peak RSS {rss:.2f} GB")
        results.append({"rows": n, "med": med, "total": total, "rss": rss, "clusters": r0["clusters"]})
    if len(results) >= 2:
        xs = [r["rows"] for r in results]
        T = args.target_rows
        print(f"extrapolated to {T:,} rows (straight lines through {', '.join(f'{x:,}' for x in xs)} rows; "
              f"clusters of {args.per_cluster} rows):")
        print(f"  peak RSS of one process holding every stage: {fit_line(xs, [r['rss'] for r in results], T):,.0f} GB "
              f"(the fit's rows dominate: cluster a sample at real scale)")
        big = results[-1]
        g = big["med"]["group"] * T / big["rows"]  # proportional: the intercept of a line is noise here
        # fit: rows x clusters, clusters growing with rows -> quadratic in rows; from the largest size
        fit_t = big["med"]["fit"] * (T / big["rows"]) ** 2 * args.target_niter / args.niter
        print(f"  group: {g / 3600:,.1f} h at {args.threads} threads (proportional to rows at a fixed cluster size, "
              f"from the largest size; spread over group_shards jobs)")
        print(f"  apply: {big['med']['apply'] * (T / big['rows']) ** 2 / 3600:,.0f} CPU-hours at {args.threads} threads "
              f"(rows x clusters, {T // args.per_cluster:,} clusters; spread over the chunks' jobs)")
        print(f"  fit: {fit_t / 3600:,.0f} h at {args.threads} CPU threads and {args.target_niter} iterations "
              f"(clusters x 256 rows x clusters x iterations; the reference clusters on GPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
