"""Benchmark DataComp's baseline filters: the basic filter over metadata rows, and the image-based
filter's faiss k-means + centroid assignment.

    .venv/bin/python benchmarks/bench_baselines.py basic --rows 1000000 --repeats 3
    .venv/bin/python benchmarks/bench_baselines.py kmeans --rows 1000000 --dim 768 --centroids 10000

basic: fastText lid.176 language ID (the packaged .ftz; ``--lid-model`` for lid.176.bin) + caption
and geometry rules over synthetic metadata (captions drawn from the tiny world's English, French,
German and Spanish caption generators). Target: at most 30 s median for 1M rows on 2 cores.
kmeans: DataComp's clustering (faiss L2 k-means, 20 iterations, no sub-sampling) of random unit
vectors, then the inner-product assignment of the clustered rows and of ``--reference`` rows (the
downstream-train images). DataComp clusters L/14 embeddings (768-d) into 100K centroids on GPUs;
``--rows/--centroids/--niter`` choose a size the machine allows, and the report says what ran.

Prints median time over repeats, throughput and peak RSS. Exits 1 if ``--max-seconds`` is missed.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import numpy as np


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def make_metadata(rows: int, seed: int = 0, distinct: int = 20000):
    """Synthetic DataComp metadata: world captions (80 % English) and image sizes around the thresholds."""
    from clipcurate.world import concepts as C

    rng = np.random.default_rng(seed)
    pool = []
    for i in range(distinct):
        scene = C.sample_shape_scene(rng)
        r = rng.random()
        if r < 0.8:
            pool.append(C.caption_en(scene, rng))
        else:
            pool.append(C.caption_foreign(scene, rng, C.LANGUAGES[i % len(C.LANGUAGES)]))
    idx = rng.integers(0, distinct, rows)
    texts = [pool[i] for i in idx]
    width = rng.integers(50, 1200, rows)
    height = rng.integers(50, 1200, rows)
    return texts, width, height


def bench_basic(args) -> int:
    from clipcurate.scores.helpers import datacomp_filters as F
    from clipcurate.scores.helpers import langid

    t0 = time.perf_counter()
    texts, width, height = make_metadata(args.rows, args.seed)
    print(f"made {args.rows:,} metadata rows in {time.perf_counter() - t0:.1f} s")
    model = langid.load_model(args.lid_model)
    times = []
    for r in range(args.repeats):
        t = time.perf_counter()
        keep = F.basic_filter(texts, width, height, model, threads=args.threads)
        times.append(time.perf_counter() - t)
        print(f"  repeat {r}: {times[-1]:.2f} s (kept {keep.mean():.3f})")
    n = min(args.check, args.rows)
    ref = F.basic_mask(texts[:n], width[:n], height[:n], langid.is_english(texts[:n], model))
    if not np.array_equal(ref, keep[:n]):
        print("MISMATCH: basic_filter differs from the rule-by-rule mask")
        return 1
    med = statistics.median(times)
    print(f"basic filter: {args.rows:,} rows, median {med:.2f} s, {args.rows / med:,.0f} rows/s, "
          f"peak RSS {peak_rss_gb():.2f} GB")
    if args.max_seconds is not None and med > args.max_seconds:
        print(f"MISSED: median {med:.2f} s > {args.max_seconds} s")
        return 1
    return 0


def bench_kmeans(args) -> int:
    import faiss

    from clipcurate.scores.helpers import datacomp_filters as F

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ref = rng.standard_normal((args.reference, args.dim), dtype=np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    print(f"k-means of {args.rows:,} x {args.dim} into {args.centroids:,} centroids, {args.niter} iterations, "
          f"{faiss.omp_get_max_threads()} threads; assignment of the pool + {args.reference:,} reference rows")
    tk, ta = [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        c = F.train_centroids(x, args.centroids, niter=args.niter, seed=args.seed + r)
        tk.append(time.perf_counter() - t)
        t = time.perf_counter()
        keep, target = F.image_based_keep(x, np.ones(len(x), dtype=bool), c, ref)
        ta.append(time.perf_counter() - t)
        print(f"  repeat {r}: k-means {tk[-1]:.1f} s, assignment {ta[-1]:.1f} s "
              f"({len(target)} target clusters, kept {keep.mean():.3f})")
    mk, ma = statistics.median(tk), statistics.median(ta)
    print(f"image-based: k-means median {mk:.1f} s ({mk / args.niter:.2f} s/iteration), assignment median "
          f"{ma:.1f} s ({args.rows / ma:,.0f} rows/s), peak RSS {peak_rss_gb():.2f} GB")
    if args.max_seconds is not None and mk + ma > args.max_seconds:
        print(f"MISSED: {mk + ma:.1f} s > {args.max_seconds} s")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    b = sub.add_parser("basic", help="basic filter over metadata rows")
    b.add_argument("--rows", type=int, default=1_000_000)
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--lid-model", default=None, help="lid.176.bin/.ftz path (default: the packaged .ftz)")
    b.add_argument("--threads", type=int, default=2, help="language-ID threads")
    b.add_argument("--check", type=int, default=20000, help="rows checked against the rule-by-rule mask")
    b.add_argument("--max-seconds", type=float, default=30.0)
    b.add_argument("--seed", type=int, default=0)
    k = sub.add_parser("kmeans", help="image-based k-means + assignment")
    k.add_argument("--rows", type=int, default=1_000_000)
    k.add_argument("--dim", type=int, default=768)
    k.add_argument("--centroids", type=int, default=10_000)
    k.add_argument("--niter", type=int, default=20)
    k.add_argument("--reference", type=int, default=100_000, help="downstream-train rows to assign")
    k.add_argument("--repeats", type=int, default=1)
    k.add_argument("--threads", type=int, default=None, help="faiss OpenMP threads (default: all cores)")
    k.add_argument("--max-seconds", type=float, default=None)
    k.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    return bench_basic(args) if args.what == "basic" else bench_kmeans(args)


if __name__ == "__main__":
    sys.exit(main())
