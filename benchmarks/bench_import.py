"""Benchmark: align an external uid list / score file to the pool by uid (the import methods' core).

DataComp medium is 128M pool uids; a published subset or a metadata score column lists a similar
number. The import works on DataComp's ``u8,u8`` integer uids (16 bytes each): sort the source
(a lexsort of the two uint64 halves), then two binary searches per pool uid. This script times that matching and the
32-hex -> u8,u8 conversion of the pool's uid strings, for M pool uids and a source of M uids of which
``--overlap`` are in the pool, and prints median wall time and peak RSS.

    .venv/bin/python benchmarks/bench_import.py --rows 10000000 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from clipcurate.core import uidcodec
from clipcurate.scores.methods.imported import match, unique_pairs


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--overlap", type=float, default=0.8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hex-rows", type=int, default=1_000_000, help="rows for the hex-string conversion timing")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    pool = np.empty(args.rows, uidcodec.SUBSET_DTYPE)
    pool["f0"], pool["f1"] = rng.integers(0, 2**63, args.rows, dtype=np.uint64), rng.integers(0, 2**63, args.rows, dtype=np.uint64)
    k = int(args.overlap * args.rows)
    src = np.concatenate([pool[rng.permutation(args.rows)[:k]], np.empty(args.rows - k, uidcodec.SUBSET_DTYPE)])
    src["f0"][k:], src["f1"][k:] = rng.integers(0, 2**63, args.rows - k, dtype=np.uint64), rng.integers(0, 2**63, args.rows - k, dtype=np.uint64)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        distinct, _ = unique_pairs(src)
        pos = match(pool, distinct)
        times.append(time.perf_counter() - t0)
    assert int((pos >= 0).sum()) == k
    hex_uids = np.array(uidcodec.pairs_to_uids(pool[: args.hex_rows]))
    t0 = time.perf_counter()
    uidcodec.uids_to_pairs(hex_uids)
    hex_s = time.perf_counter() - t0
    print(f"match: {args.rows:,} pool uids x {args.rows:,} source uids ({args.overlap:.0%} in the pool): "
          f"median {statistics.median(times):.2f} s over {args.repeats} ({args.rows / statistics.median(times) / 1e6:.1f} M uids/s)")
    print(f"hex -> u8,u8: {args.hex_rows:,} uids in {hex_s:.2f} s ({args.hex_rows / hex_s / 1e6:.1f} M uids/s)")
    print(f"peak RSS: {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
