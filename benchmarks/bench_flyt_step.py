"""Benchmark one FLYT step (Algorithm 1) on CPU with the tiny-clip config.

Times one M-FLYT step (LinearMixer over k input scores) and one E-FLYT step (GLUHead over the
concatenated frozen embeddings) at several upstream batch sizes (downstream batch = 3/4 of it,
10 classes, "ce" downstream loss), with 1 and 2 torch threads. Each configuration runs in its own
subprocess so that the peak RSS (ru_maxrss) is per configuration. Besides wall time the process
CPU time per step is reported: on a shared machine it is the more robust measure of the work. A timed step is what the
training loop does per step: sample/tokenise the downstream class texts + ``flyt_step``.

Usage:
    .venv/bin/python benchmarks/bench_flyt_step.py                     # full grid
    .venv/bin/python benchmarks/bench_flyt_step.py --batches 64 --threads 1 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "src" / "clipcurate" / "embed" / "model_configs" / "tiny-clip.json"
N_CLASSES = 10
N_INPUT_SCORES = 4
TEMPLATES = ["a photo of a {c}.", "a bad photo of the {c}.", "a close-up photo of a {c}.", "itap of a {c}."]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker(kind: str, batch: int, threads: int, repeats: int, warmup: int, downstream: str) -> dict:
    import torch

    torch.set_num_threads(threads)
    import open_clip

    from clipcurate.train.flyt import GLUHead, LinearMixer, embedding_features, sample_downstream_texts
    from clipcurate.train.flyt.adamw import weight_decay_param_groups
    from clipcurate.train.flyt.downstream import uses_learnable_temperature
    from clipcurate.train.flyt.meta import ReferenceState, flyt_step

    open_clip.add_model_config(str(CONFIG))
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip")
    model.train()
    tokenizer = open_clip.get_tokenizer("tiny-clip")
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    classnames = [f"class {i}" for i in range(N_CLASSES)]
    g = torch.Generator().manual_seed(0)
    down_batch = (3 * batch) // 4

    def make_upstream():
        y = torch.randint(0, N_CLASSES, (batch,), generator=g).tolist()
        t = torch.randint(0, len(TEMPLATES), (batch,), generator=g).tolist()
        return {
            "images": torch.randn(batch, 3, size, size, generator=g),
            "texts": tokenizer([TEMPLATES[a].format(c=classnames[b]) for a, b in zip(t, y)]),
        }

    n_batches = warmup + repeats
    ups = [make_upstream() for _ in range(n_batches)]
    downs = [
        {"images": torch.randn(down_batch, 3, size, size, generator=g),
         "labels": torch.randint(0, N_CLASSES, (down_batch,), generator=g)}
        for _ in range(n_batches)
    ]
    if kind == "mflyt":
        scorer = LinearMixer(N_INPUT_SCORES)
        for u in ups:
            u["features"] = torch.randn(batch, N_INPUT_SCORES, generator=g)
    else:
        frozen = open_clip.create_model("tiny-clip")
        for u in ups:  # frozen embeddings are precomputed once per pool example, not per step
            u["features"] = embedding_features(frozen, u["images"], u["texts"])
        scorer = GLUHead(ups[0]["features"].shape[1])
        del frozen
    opt = torch.optim.AdamW(weight_decay_param_groups(scorer.named_parameters(), 0.2), lr=1e-3, betas=(0.9, 0.98), eps=1e-6)
    ref = ReferenceState.from_model(model, learnable_temperature=uses_learnable_temperature(downstream))
    rss_before = _rss_mib()
    times, cpu_times = [], []
    for i in range(n_batches):
        t0 = time.perf_counter()
        c0 = time.process_time()
        texts = sample_downstream_texts(downstream, downs[i]["labels"], classnames, TEMPLATES, tokenizer, g)
        out = flyt_step(model, ref, scorer, opt, ups[i], {**downs[i], "texts": texts},
                        downstream_kind=downstream, reference_lr=5e-5)
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        assert not out.skipped, out.reason
        ref = out.reference
        if i >= warmup:
            times.append(dt)
            cpu_times.append(dc)
    med = statistics.median(times)
    return {
        "kind": kind, "batch": batch, "down_batch": down_batch, "threads": threads,
        "median_s": med, "min_s": min(times), "samples_per_s": batch / med,
        "median_cpu_s": statistics.median(cpu_times),
        "peak_rss_mib": _rss_mib(), "rss_before_steps_mib": rss_before, "repeats": repeats,
        "torch": torch.__version__, "n_params": sum(p.numel() for p in ref.params.values()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--kinds", nargs="+", default=["mflyt", "eflyt"], choices=["mflyt", "eflyt"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--downstream", default="ce", choices=["ce", "ce_temperature", "clip"])
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "BATCH", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        kind, batch, threads = args.worker
        print(json.dumps(worker(kind, int(batch), int(threads), args.repeats, args.warmup, args.downstream)))
        return

    results = []
    print(f"cpu count {os.cpu_count()}, load average at start {os.getloadavg()}", flush=True)
    for threads in args.threads:
        for kind in args.kinds:
            for batch in args.batches:
                cmd = [sys.executable, __file__, "--worker", kind, str(batch), str(threads),
                       "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--downstream", args.downstream]
                env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    raise SystemExit(f"worker failed: {kind} B={batch} threads={threads}")
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                results.append(r)
                print(f"{kind:6s} threads={threads} B={batch:4d} B'={r['down_batch']:4d}  "
                      f"{r['median_s']:.3f} s/step (min {r['min_s']:.3f}, cpu {r['median_cpu_s']:.3f})  "
                      f"{r['samples_per_s']:7.1f} samples/s  "
                      f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)

    print(f"load average at end {os.getloadavg()}")
    for key, what in (("median_s", "wall"), ("median_cpu_s", "process CPU")):
        print(f"\nscaling with upstream batch size ({what} s/step, median; slope = d log t / d log B):")
        for threads in args.threads:
            for kind in args.kinds:
                rs = sorted((r for r in results if r["kind"] == kind and r["threads"] == threads), key=lambda r: r["batch"])
                if len(rs) < 2:
                    continue
                ratios = [f"x{b[key] / a[key]:.2f} ({a['batch']}->{b['batch']})" for a, b in zip(rs, rs[1:])]
                xs = [math.log(r["batch"]) for r in rs]
                ys = [math.log(r[key]) for r in rs]
                mx, my = statistics.mean(xs), statistics.mean(ys)
                slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
                print(f"  {kind:6s} threads={threads}: " + ", ".join(ratios) + f"; slope {slope:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
