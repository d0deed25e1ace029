"""Benchmark: the DataComp metadata check that runs before a download (clipcurate.pool.metadata_check).

Writes one metadata parquet of ``--rows`` synthetic rows with DataComp's columns (uid, url, text,
sha256, face_bboxes: about one box per three rows, as in DataComp's pools) and times
:func:`clipcurate.pool.metadata_check.check_file` over the columns the download uses; prints the median
wall time, rows per second and peak RSS. The check runs batch by batch (1M rows), so memory does not
grow with the file.

    .venv/bin/python benchmarks/bench_metadata_check.py --rows 2000000 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clipcurate.pool import metadata_check

COLUMNS = ["uid", "url", "text", "sha256", "face_bboxes"]


def synthetic(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    hexes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(rows)]
    n_boxes = rng.poisson(0.35, rows)
    offsets = np.r_[0, np.cumsum(n_boxes)].astype(np.int32)
    coords = pa.FixedSizeListArray.from_arrays(pa.array(rng.random(int(offsets[-1]) * 4)), 4)
    boxes = pa.ListArray.from_arrays(pa.array(offsets), pa.ListArray.from_arrays(
        pa.array(np.arange(0, int(offsets[-1]) * 4 + 1, 4, dtype=np.int32)), coords.flatten()))
    return pa.table({
        "uid": pa.array([h[:32] for h in hexes]),
        "url": pa.array([f"https://example.org/images/{i}/photo-{h[:12]}.jpg" for i, h in enumerate(hexes)]),
        "text": pa.array([f"a photo of item {i} on a table" for i in range(rows)]),
        "sha256": pa.array(hexes),
        "face_bboxes": boxes,
    })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "00000000.parquet"
        pq.write_table(synthetic(args.rows), path)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            assert metadata_check.check_file(path, COLUMNS, bbox_col="face_bboxes") == args.rows
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"metadata check of {args.rows:,} rows ({', '.join(COLUMNS)}): median {med:.2f} s over {args.repeats} runs, "
          f"{args.rows / med / 1e6:.2f}M rows/s, peak RSS {rss:.0f} MB (process, including the synthetic table)")


if __name__ == "__main__":
    main()
