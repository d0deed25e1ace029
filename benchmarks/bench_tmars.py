"""T-MARS text masking (the ``textmask`` variant): throughput in images/s, the share of the tiny
world's scene-text samples that get a mask (and of its clean samples, the false positives), and the
cost of masking a 128M pool estimated from the measured rate.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_tmars.py --samples 60 --repeats 3

Renders the world's own pool scenes (``clipcurate.world``: ``plan_pool`` of a 2,000-sample world, the
first ``--samples`` scene-text and clean samples) at the world's native 64 px and downsizes them
(box filter) to the download size (``download.image_size``, 32 px), then runs
:func:`clipcurate.embed.variants.textmask.textmask` at each ``--det-sizes`` (the side the detector sees:
the 32 px image upscaled). Real-scale cost: the same scenes rendered at 224 px and detected at 512 px
(T-MARS's render size). One onnxruntime thread (``threads: 1``, the variant's default); the rate at
N cores is N times it (embed jobs are independent per chunk).

Prints, per setting, the medians over ``--repeats`` runs of wall time, images/s, the share masked per
kind, the peak resident memory of the process, and CPU-hours per 128M images = 128e6 / rate / 3600
(wall hours on N cores: divide by N).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
from PIL import Image


def world_images(n: int, download_size: int, render_size: int | None = None, seed: int = 0) -> dict[str, list]:
    from clipcurate.world import generate as G
    from clipcurate.world import render as R

    cfg = G.resolve_cfg({"pool_size": 2000})
    native = int(cfg["native_size"])
    out = {}
    for kind in ("scene_text", "clean"):
        rows = [r for r in G.plan_pool(cfg, seed) if r["kind"] == kind and r["job"][0] == "scene"][:n]
        if render_size:  # a realistic-size image of the same scene
            out[kind] = [Image.fromarray(R.render_scene(r["job"][1], render_size)) for r in rows]
        else:  # the world as downloaded: native px, box-filtered to the download size
            out[kind] = [Image.fromarray(R.render_scene(r["job"][1], native)).resize((download_size, download_size),
                                                                                     Image.Resampling.BOX) for r in rows]
    return out


def run(images: dict[str, list], params: dict, repeats: int) -> dict:
    from clipcurate.embed.variants import textmask as tm

    every = [im for ims in images.values() for im in ims]
    tm.textmask(every[0], params, {})  # the onnxruntime session, once
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for im in every:
            tm.textmask(im, params, {})
        times.append(time.perf_counter() - t)
    share = {k: float(np.mean([len(tm.detect_boxes(im, params)) > 0 for im in ims])) for k, ims in images.items()}
    wall = statistics.median(times)
    rate = len(every) / wall
    return {"images": len(every), "wall_s": round(wall, 3), "images_per_s": round(rate, 1),
            "cpu_hours_per_128M": round(128e6 / rate / 3600, 1), **{f"masked_{k}": round(v, 3) for k, v in share.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv=None) -> int:
    from clipcurate.embed.variants import textmask as tm

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=60, help="scene-text and clean samples each")
    ap.add_argument("--download-size", type=int, default=32)
    ap.add_argument("--det-sizes", type=int, nargs="+", default=[128, 192, 256, 512])
    ap.add_argument("--real-size", type=int, default=224, help="image side of the real-scale estimate (0: skip)")
    ap.add_argument("--cores", type=int, default=32, help="cores of the wall-time estimate")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    small = world_images(args.samples, args.download_size)
    rows = [(f"world {args.download_size} px, det_size {d}", run(small, {**tm.DEFAULTS, "det_size": d}, args.repeats))
            for d in args.det_sizes]
    if args.real_size:
        big = world_images(args.samples, args.download_size, render_size=args.real_size)
        rows.append((f"{args.real_size} px, det_size 512", run(big, dict(tm.DEFAULTS), args.repeats)))
    for name, r in rows:
        print(f"{name:34s} " + "  ".join(f"{k}={v}" for k, v in r.items())
              + f"  wall_hours_per_128M_at_{args.cores}_cores={r['cpu_hours_per_128M'] / args.cores:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
