"""Benchmark: standardize and mix K float32 score columns over M rows in memory.

DataComp medium is 128M rows; FLYT's M-FLYT and its baselines mix 12 scores (FLYT §4.2, Table 2).
The targets are at most 60 s (median over repeats, per method) and at most 12 GB peak RSS on a
2-core machine. The random inputs alone take K * M * 4 bytes (6 GB at full size), so the mixing
itself must work in place or in chunks: ``clipcurate.mix.aggregate`` computes each column's mean/std in one
chunked pass and the weighted sum of z-scores in a second fused pass, allocating only the float32
output (M * 4 bytes) beyond small chunk buffers.

    .venv/bin/python benchmarks/bench_mixing.py --rows 128000000 --cols 12 --repeats 3

Exits 1 if a target is missed (``--max-seconds``, ``--max-gb``). No parquet is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np

from clipcurate.mix import aggregate as mixing


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is KiB on Linux


def current_rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def make_columns(rows: int, k: int, seed: int) -> dict[str, np.ndarray]:
    """K float32 columns with different means and scales, as one (K, M) array (no float64 temporaries)."""
    rng = np.random.default_rng(seed)
    data = np.empty((k, rows), dtype=np.float32)
    for i in range(k):
        rng.standard_normal(out=data[i], dtype=np.float32)
        data[i] *= np.float32(0.01 * (i + 1))  # std 0.01 .. 0.12
        data[i] += np.float32(0.3 * i - 1.0)  # means -1 .. 2.3
    return {f"score{i:02d}": data[i] for i in range(k)}


def verify(res: mixing.MixResult, cols: dict[str, np.ndarray], n: int = 2000, seed: int = 1) -> float:
    """Max abs error of the mixed score against a float64 recomputation on ``n`` random rows."""
    rows = np.random.default_rng(seed).integers(0, len(next(iter(cols.values()))), n)
    ref = np.zeros(n, dtype=np.float64)
    for name, x in cols.items():
        ref += res.weights[name] * (x[rows].astype(np.float64) - res.means[name]) / res.stds[name]
    return float(np.max(np.abs(res.columns["score"][rows] - ref)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=128_000_000)
    ap.add_argument("--cols", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=["standardized_sum", "in_weighted"])
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--max-gb", type=float, default=12.0)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    cols = make_columns(args.rows, args.cols, args.seed)
    gen_s = time.perf_counter() - t0
    base_gb = current_rss_gb()
    print(
        f"rows={args.rows:,} cols={args.cols} inputs={args.rows * args.cols * 4 / 1e9:.2f} GB "
        f"generated in {gen_s:.1f} s; RSS after generation {base_gb:.2f} GB; cpus={os.cpu_count()}",
        flush=True,
    )

    # FLYT Table 2's inputs' ImageNet accuracies, cycled, as the IN-weighted baseline's weights
    in_acc = [0.282, 0.267, 0.297, 0.342, 0.309, 0.331, 0.268, 0.287, 0.316, 0.300, 0.290, 0.310]
    params = {
        "standardized_sum": {},
        "sum": {},
        "in_weighted": {"in_accuracy": {n: in_acc[i % len(in_acc)] for i, n in enumerate(cols)}, "r": 8},
        "weighted_sum": {"weights": {n: 1.0 / (i + 1) for i, n in enumerate(cols)}},
    }

    ok = True
    for method in args.methods:
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            res = mixing.mix_details(method, cols, params[method])
            times.append(time.perf_counter() - t)
            err = verify(res, cols) if res.means is not None else float("nan")
            del res
        med = statistics.median(times)
        ok &= med <= args.max_seconds
        print(
            f"{method}: median {med:.2f} s over {args.repeats} (all: {', '.join(f'{x:.2f}' for x in times)}); "
            f"max abs error vs float64 on 2000 rows {err:.2e}",
            flush=True,
        )

    peak = peak_rss_gb()
    ok &= peak <= args.max_gb
    print(
        f"peak RSS {peak:.2f} GB (inputs {args.rows * args.cols * 4 / 1e9:.2f} GB, "
        f"mixing overhead {peak - base_gb:.2f} GB); targets {args.max_seconds:.0f} s, {args.max_gb:.0f} GB: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
