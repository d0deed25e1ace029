"""Benchmark: s-CLIPLoss and NormSim over N x d embeddings (FLYT's M-FLYT inputs; issue 15 target:
1M x 512 in at most 60 s each on 2 cores).

s-CLIPLoss costs K permutations x N rows x B columns x d (the batch similarity matrices) plus two
log-sum-exps over the same N x B entries per permutation; NormSim_inf costs N x m x d against m
target embeddings, NormSim_2 N x d^2 (the Gram matrix; independent of m). The script prints the
median wall time over ``--repeats``, throughput (rows/s) and the process's peak RSS, for each
setting asked for, and the time per permutation of s-CLIPLoss so that the paper's settings (B =
32768, K = 10) can be extrapolated on a CPU: they are 32x the work of B = 1024 per permutation, a
job for the GPU the real-scale config gives the score (config/scales/medium.yaml).

    OMP_NUM_THREADS=2 nice .venv/bin/python benchmarks/bench_flyt_inputs.py --rows 1000000 --dim 512

No timed assertion: the numbers are printed (README, "M-FLYT's inputs").
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def unit_pairs(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n L2-normalised image vectors and captions correlated with them (float32, no float64 temporaries)."""
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((n, d), dtype=np.float32)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt = rng.standard_normal((n, d), dtype=np.float32)
    txt *= np.float32(0.05)  # cosine about 0.66 with its image
    txt += img
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    return img, txt


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall seconds and median CPU seconds (all threads: what the job costs on an idle machine
    with that many cores, whatever else the shared machine runs) of ``repeats`` calls."""
    times, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--batch-size", type=int, nargs="+", default=[1024], help="s-CLIPLoss batch sizes B to time")
    ap.add_argument("--permutations", type=int, default=1, help="s-CLIPLoss K timed (the time scales linearly in K)")
    ap.add_argument("--targets", type=int, nargs="+", default=[1000], help="NormSim target-set sizes m to time")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--skip", choices=["sclip", "normsim"], default=None)
    a = ap.parse_args(argv)

    import torch

    from clipcurate.scores.methods.normsim import normsim
    from clipcurate.scores.methods.sclip_loss import negclip_loss

    if a.threads:
        torch.set_num_threads(a.threads)
    img, txt = unit_pairs(a.rows, a.dim, 0)
    print(f"{a.rows:,} x {a.dim} float32 pairs; torch threads {torch.get_num_threads()}; "
          f"cuda {torch.cuda.is_available()}; peak RSS after setup {peak_rss_gb():.2f} GB")
    if a.skip != "sclip":
        for b in a.batch_size:
            t, c, s = timed(lambda: negclip_loss(img, txt, batch_size=b, permutations=a.permutations, temperature=0.01,
                                                  seed=0), a.repeats)
            per_k = t / a.permutations
            print(f"s-CLIPLoss B={b} K={a.permutations}: median {t:.1f} s wall, {c:.1f} s CPU ({a.rows / t:,.0f} rows/s), "
                  f"{per_k:.1f} s per permutation -> K=10: {10 * per_k:.0f} s; peak RSS {peak_rss_gb():.2f} GB; "
                  f"mean score {float(np.mean(s)):.4f}")
    if a.skip != "normsim":
        rng = np.random.default_rng(1)
        for m in a.targets:
            target = img[rng.choice(a.rows, size=m, replace=False)] + np.float32(0.01) * rng.standard_normal((m, a.dim), dtype=np.float32)
            target /= np.linalg.norm(target, axis=1, keepdims=True)
            t, c, out = timed(lambda: normsim(img, target), a.repeats)
            print(f"NormSim (inf and l2) m={m:,}: median {t:.1f} s wall, {c:.1f} s CPU ({a.rows / t:,.0f} rows/s); "
                  f"peak RSS {peak_rss_gb():.2f} GB; mean inf {float(out['inf'].mean()):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
