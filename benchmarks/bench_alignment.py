"""Benchmark the score-file alignment check (:func:`clipcurate.core.alignment.same_uids`).

Every read of a score file compares its uid column with the pool index's, row by row, streamed in
blocks of ``alignment.ALIGN_BLOCK`` rows. This writes an index and an aligned score file of N random
32-hex uids (parquet, as the workflow writes them) and times the comparison: the median of
``--repeats`` runs, throughput in rows/s, and the process's peak RSS before and after (the check
should hold a few blocks, not two columns), for both paths: row groups compared in parallel
threads (files written by the workflow) and the single-threaded stream (any other file). The page
cache is warm (the files were just written); CPU time is reported beside wall time because on a
shared machine it is the steadier measure.

Usage:
    .venv/bin/python benchmarks/bench_alignment.py --rows 10000000 --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _uids(n: int, seed: int) -> pa.Array:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[raw]
    offsets = np.arange(0, 32 * (n + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from clipcurate.core import alignment, fileio

    with tempfile.TemporaryDirectory() as tmp:
        uids = _uids(args.rows, 0)
        index, scores = Path(tmp) / "index.parquet", Path(tmp) / "scores.parquet"
        fileio.write_table(pa.table({"uid": uids}), index)
        fileio.write_table(pa.table({"uid": uids, "score": pa.array(np.zeros(args.rows, np.float32))}), scores)
        del uids
        rss0 = _rss_mib()
        for path in ("row groups in parallel", "streamed"):
            if path == "streamed":  # force the streaming path (files whose row groups differ)
                alignment._row_groups = lambda pf, _orig=alignment._row_groups: [id(pf)]
            times, cpu = [], []
            for _ in range(args.repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                assert alignment.same_uids(scores, index)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            med = statistics.median(times)
            print(f"{path}: rows={args.rows:,} workers={alignment._workers()} median wall={med:.2f}s cpu={statistics.median(cpu):.2f}s "
                  f"throughput={args.rows / med / 1e6:.1f}M rows/s; peak RSS {rss0:.0f} -> {_rss_mib():.0f} MiB "
                  f"(runs: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
