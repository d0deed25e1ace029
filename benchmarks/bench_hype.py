"""Benchmark: HYPE scoring throughput over chunked embeddings, and the tiny hyperbolic CLIP's training time.

``score``: the ``hype`` method's work on chunks of random L2-normalised embeddings (what a score job
does per chunk: load the checkpoint, embed the reference set, then per block of rows the exponential
map, ``-d_L`` and the two specificities against ``--reference`` reference pairs). Prints the median
over ``--repeats`` of seconds per chunk and samples/s, and the peak RSS. The cost per sample is
linear in the reference set's size (``2 * reference`` cone angles).

``train``: :func:`clipcurate.embed.hyperbolic.train_entry` with config/config.yaml's ``hyperbolic.hype``
settings on random matched pairs of the world's pretraining-set size (12,000, 64-d: the tiny world's
``openai`` embeddings), median seconds over ``--repeats``.

``checkpoint``: the real-scale method ``hype_checkpoint`` with a randomly initialised HYPE-layout
checkpoint of ``--arch`` (saved, then loaded through the workflow's call; ``ViT-L-14`` is HYPE's
released architecture, whose cost random weights share): its fit (``--reference`` reference pairs
embedded once) and its per-chunk apply on ``--pairs`` random 512 px JPEGs (DataComp's download size)
decoded as the ``Images`` input decodes them, with short captions. Prints the median seconds and
pairs/s of the apply over ``--repeats`` (decode, preprocessing, both towers, the three terms), the
fit's seconds, and the peak RSS; on a GPU machine it uses the GPU as the jobs do.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hype.py score --chunk 100000 --reference 1000 --dim 64
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hype.py train --repeats 3
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_hype.py checkpoint --arch ViT-L-14 --pairs 16 --reference 16
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from clipcurate.embed import hyperbolic as H

REPO = Path(__file__).resolve().parents[1]


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # KiB on Linux


def unit_rows(rng, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bench_score(args) -> None:
    import torch

    from clipcurate.scores.methods.hype import hype

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = H.build_model(args.dim, args.hyp_dim, args.hidden)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        H.save_hyperbolic(path, model)
        ref = {"image": unit_rows(rng, args.reference, args.dim), "text": unit_rows(rng, args.reference, args.dim), "label": None}
        emb = {"uid": None, "image": unit_rows(rng, args.chunk, args.dim), "text": unit_rows(rng, args.chunk, args.dim)}
        params = {"reference_size": args.reference, "seed": 0, "block": args.block}
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = hype(params, emb, ref, str(path))
            times.append(time.perf_counter() - t0)
        assert all(np.isfinite(v).all() for v in out.values())
    med = statistics.median(times)
    print(f"hype score: chunk {args.chunk:,} rows, dim {args.dim} -> hyperbolic {args.hyp_dim} (hidden {args.hidden}), "
          f"reference {args.reference:,}, block {args.block}, torch threads {args.threads}")
    print(f"  median {med:.2f} s per chunk ({args.repeats} repeats: {', '.join(f'{t:.2f}' for t in times)}); "
          f"{args.chunk / med:,.0f} samples/s; peak RSS {peak_rss_gb():.2f} GB")


def bench_train(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["hyperbolic"]["hype"]
    rng = np.random.default_rng(0)
    # matched pairs with shared structure: text = image + noise, both L2-normalised
    img = unit_rows(rng, args.pairs, args.dim)
    txt = img + 0.5 * unit_rows(rng, args.pairs, args.dim)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    times, aucs = [], []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        _, info = H.train_entry(img, txt, cfg, seed=r)
        times.append(time.perf_counter() - t0)
        aucs.append(info["heldout_auc"])
    med = statistics.median(times)
    print(f"hyperbolic CLIP training: {args.pairs:,} pairs of dim {args.dim}, config hyperbolic.hype "
          f"({cfg['steps']} steps, batch {cfg['batch_size']}, dim {cfg.get('dim')}, hidden {cfg.get('hidden')}), "
          f"torch threads {args.threads}")
    print(f"  median {med:.1f} s ({args.repeats} repeats: {', '.join(f'{t:.1f}' for t in times)}); "
          f"{cfg['steps'] / med:.0f} steps/s; held-out AUC {', '.join(f'{a:.3f}' for a in aucs)}; peak RSS {peak_rss_gb():.2f} GB")


class _Pairs:
    """What the ``Images`` input gives a method: ``len()`` and ``batches(size)`` of (start, images, captions)."""

    def __init__(self, jpegs: list, captions: list):
        self.jpegs, self.captions = jpegs, captions

    def __len__(self) -> int:
        return len(self.jpegs)

    def batches(self, size: int):
        from clipcurate.embed.encode import decode_image

        for lo in range(0, len(self.jpegs), size):
            yield lo, [decode_image(j, "bench") for j in self.jpegs[lo:lo + size]], self.captions[lo:lo + size]


class _Reference(_Pairs):
    """What the ``ReferenceImages`` input gives a fit: ``len()`` and ``batches(rows, size)``."""

    set_dir = "bench reference"

    def batches(self, rows, size: int):  # type: ignore[override]
        for lo, ims, texts in super().batches(size):
            yield [int(r) for r in rows[lo:lo + size]], ims, texts


def random_jpegs(rng, n: int, side: int = 512) -> list:
    import io as _io

    from PIL import Image

    out = []
    for _ in range(n):
        buf = _io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (side, side * 3 // 4, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=95)
        out.append(buf.getvalue())
    return out


def bench_checkpoint(args) -> None:
    import math

    import open_clip
    import torch

    from clipcurate.embed.models import register_tiny_configs
    from clipcurate.scores.methods.hype import hype_checkpoint, hype_reference

    torch.set_num_threads(args.threads)
    register_tiny_configs()
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    words = ["a", "photo", "of", "the", "red", "dog", "on", "grass", "two", "cats", "city", "street", "at", "night"]
    captions = [" ".join(rng.choice(words, size=8)) for _ in range(max(args.pairs, args.reference))]
    pairs = _Pairs(random_jpegs(rng, args.pairs), captions[:args.pairs])
    ref = _Reference(random_jpegs(rng, args.reference), captions[:args.reference])
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "hype.pt")
        clip = open_clip.create_model(args.arch, pretrained=None)
        torch.save({**clip.state_dict(), "curvature": torch.tensor(math.log(0.1)), "alpha_img": torch.tensor(-3.0),
                    "alpha_txt": torch.tensor(-3.0)}, path)
        del clip
        params = {"arch": args.arch, "reference_size": args.reference, "seed": 0, "block": 2048, "batch_size": args.batch_size}
        t0 = time.perf_counter()
        fitted = hype_reference(params, None, ref, path)
        fit_s = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = hype_checkpoint(params, None, fitted, pairs, path)
            times.append(time.perf_counter() - t0)
        assert all(np.isfinite(v).all() for v in out.values())
    med = statistics.median(times)
    device = "cuda" if torch.cuda.is_available() else f"CPU, torch threads {args.threads}"
    print(f"hype_checkpoint: arch {args.arch} (random weights), {args.pairs} pairs of 512 px JPEGs, reference {args.reference}, "
          f"batch {args.batch_size}, {device}")
    print(f"  apply: median {med:.2f} s ({args.repeats} repeats: {', '.join(f'{t:.2f}' for t in times)}), "
          f"{args.pairs / med:,.1f} pairs/s (checkpoint load included); fit {fit_s:.2f} s; peak RSS {peak_rss_gb():.2f} GB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("score")
    s.add_argument("--chunk", type=int, default=100_000)
    s.add_argument("--reference", type=int, default=1000)
    s.add_argument("--dim", type=int, default=64, help="frozen embedding width (64 tiny world, 768 L/14)")
    s.add_argument("--hyp-dim", type=int, default=64)
    s.add_argument("--hidden", type=int, default=256)
    s.add_argument("--block", type=int, default=2048)
    t = sub.add_parser("train")
    t.add_argument("--pairs", type=int, default=12000)
    t.add_argument("--dim", type=int, default=64)
    c = sub.add_parser("checkpoint")
    c.add_argument("--arch", default="tiny-clip", help="OpenCLIP architecture of the random checkpoint (ViT-L-14: HYPE's)")
    c.add_argument("--pairs", type=int, default=256)
    c.add_argument("--reference", type=int, default=64)
    c.add_argument("--batch-size", type=int, default=64)
    for p in (s, t, c):
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    {"score": bench_score, "train": bench_train, "checkpoint": bench_checkpoint}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
