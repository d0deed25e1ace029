"""Wall time, throughput and peak memory of DataComp's precomputed embeddings as embedding files.

Usage::

    .venv/bin/python benchmarks/bench_precomputed.py --rows 4000000 --files 8 --dim 512 --repeats 3

Writes a synthetic DataComp metadata directory under a temporary folder: ``--files`` parquet files of
random 32-hex uids with row-aligned ``.npz`` files (``b32_img``/``b32_txt`` of ``--dim`` float16
columns, DataComp's storage), and a pool index holding 90 % of the uids (the downloaded ones) in
another order, in chunks of ``--chunk-rows`` rows. It then times, each in a fresh subprocess so that
its peak memory (``ru_maxrss``) is its own:

- ``row_map``: :func:`clipcurate.pool.precomputed.build_row_map` (the one pool-level job);
- ``chunk``: :func:`clipcurate.pool.precomputed.write_chunk_embeddings` for one chunk (the per-chunk job).

Medians over ``--repeats`` runs are printed. At DataComp medium (128M rows) the row map's memory is
dominated by the uid pairs (16 bytes per row, twice) and the sort order (8 bytes per row).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _write_pool(root: Path, rows: int, files: int, dim: int, chunk_rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    meta = root / "metadata"
    meta.mkdir()
    per = -(-rows // files)
    all_uids = []
    for f in range(files):
        n = min(per, rows - f * per)
        raw = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
        uids = [f"{hi:016x}{lo:016x}" for hi, lo in raw.tolist()]
        pq.write_table(pa.table({"uid": uids}), meta / f"{f:032x}.parquet")
        vec = rng.standard_normal((n, dim), dtype=np.float32).astype(np.float16)
        np.savez_compressed(meta / f"{f:032x}.npz", b32_img=vec, b32_txt=vec[::-1])
        all_uids += uids
    keep = rng.permutation(len(all_uids))[: int(0.9 * len(all_uids))]
    uids = [all_uids[i] for i in keep]
    chunk = np.arange(len(uids)) // chunk_rows
    pq.write_table(pa.table({"uid": uids, "shard": pa.array(chunk, pa.int32()), "key": [f"{i:09d}" for i in range(len(uids))],
                             "chunk": pa.array(chunk, pa.int32())}), root / "index.parquet")


def _child(step: str, root: str, repeats: int) -> None:
    from clipcurate.pool import precomputed

    root = Path(root)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        if step == "row_map":
            precomputed.build_row_map(root / "index.parquet", root / "metadata", root / "rows.parquet")
        else:
            precomputed.write_chunk_embeddings(root / "rows.parquet", root / "metadata", 0, "b32", root / "chunk.parquet")
        times.append(time.perf_counter() - t0)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"median_s": statistics.median(times), "peak_gb": peak_gb}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.repeats)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_pool(root, args.rows, args.files, args.dim, args.chunk_rows)
        index_rows = pq.read_metadata(root / "index.parquet").num_rows
        for step in ("row_map", "chunk"):
            out = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--child", step, str(root)],
                                 capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            n = index_rows if step == "row_map" else min(args.chunk_rows, index_rows)
            print(f"{step:8s} rows={n:>11,d}  median {res['median_s']:.2f} s  {n / res['median_s']:,.0f} rows/s  "
                  f"peak {res['peak_gb']:.2f} GB")


if __name__ == "__main__":
    main()
