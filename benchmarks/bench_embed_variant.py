"""Wall time of one embed job, plain (image and text vectors) against an image variant (image
vectors only: its scores reuse the plain text vectors, so the variant job encodes no caption).

Usage::

    .venv/bin/python benchmarks/bench_embed_variant.py --samples 512 --arch tiny-clip --repeats 3
    .venv/bin/python benchmarks/bench_embed_variant.py --samples 256 --arch ViT-B-32 --repeats 3

Writes ``--samples`` random 64 px JPEGs with captions as img2dataset-style webdataset shards and a
one-chunk pool index under a temporary folder, then runs :func:`clipcurate.embed.encode.embed_chunk` for
``plain`` and for ``hflip`` (random weights: the cost does not depend on them) and prints the medians
over ``--repeats`` runs, on CPU with one torch thread unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import io as _io
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
import webdataset as wds
from PIL import Image


def write_pool(root: Path, n: int, per_shard: int = 100, seed: int = 0) -> Path:
    from clipcurate.core import fileio, uidcodec

    rng = np.random.default_rng(seed)
    shards = root / "shards"
    shards.mkdir()
    uids = [f"{i:032x}" for i in range(n)]
    for s in range(0, n, per_shard):
        with wds.TarWriter(str(shards / f"{s // per_shard:08d}.tar")) as w:
            for i in range(s, min(n, s + per_shard)):
                buf = _io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, format="JPEG")
                w.write({"__key__": f"{i:09d}", "jpg": buf.getvalue(), "txt": f"a photo of thing number {i} on a table",
                         "json": json.dumps({"uid": uids[i]}).encode()})
    index = root / "index.parquet"
    fileio.write_table(pa.table({"uid": uids, "shard": pa.array([i // per_shard for i in range(n)], pa.int32()),
                                 "key": [f"{i:09d}" for i in range(n)], "chunk": pa.array([0] * n, pa.int32())}),
                       index, fingerprint=uidcodec.uid_fingerprint(pa.array(uids)))
    return root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--arch", default="tiny-clip")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from clipcurate.embed.encode import embed_chunk

    spec = {"arch": args.arch, "pretrained": None}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_pool(Path(tmp), args.samples)
        times: dict[str, list[float]] = {"plain": [], "hflip": []}
        for _ in range(args.repeats):
            for variant in times:
                t0 = time.perf_counter()
                embed_chunk(root / "index.parquet", root / "shards", 0, spec, root / f"{variant}.parquet",
                            batch_size=args.batch_size, variant=variant)
                times[variant].append(time.perf_counter() - t0)
    for variant, ts in times.items():
        med = statistics.median(ts)
        print(f"{variant:6s} {args.arch} {args.samples} samples: median {med:.2f} s ({args.samples / med:.0f} samples/s)")
    print(f"variant / plain: {statistics.median(times['hflip']) / statistics.median(times['plain']):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
