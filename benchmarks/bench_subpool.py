"""Benchmark: the seeded sub-pool draw (score method ``subpool``, FLYT Table 4's DataComp-small stand-in).

Times the registered method over one chunk's metadata table of ``--rows`` random 32-hex uids (one
blake2b hash per uid) and prints the median wall time, rows per second and peak RSS. At real scale the
draw keeps the whole pool (``fraction: 1``) without hashing; this is the cost of a fraction < 1, e.g. a
sub-pool drawn from a DataComp pool (per chunk job: the chunk's rows at this rate).

    .venv/bin/python benchmarks/bench_subpool.py --rows 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import pyarrow as pa

from clipcurate.scores import get


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fraction", type=float, default=0.5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**63, size=(args.rows, 2), dtype=np.int64)
    meta = pa.table({"uid": [f"{int(a):016x}{int(b):016x}" for a, b in words]})
    method = get("subpool")
    times, kept = [], 0
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        kept = int(method.func({"fraction": args.fraction, "seed": 0}, meta=meta)["keep"].sum())
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"subpool: {args.rows:,} uids, fraction {args.fraction}: kept {kept:,}; median {med:.2f} s over "
          f"{args.repeats} runs, {args.rows / med / 1e6:.2f}M rows/s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
