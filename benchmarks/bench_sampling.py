"""Wall time and peak memory of the FLYT samplers at DataComp medium scale (M = N = 128M).

Usage::

    .venv/bin/python benchmarks/bench_sampling.py --m 128000000 --repeats 3
    .venv/bin/python benchmarks/bench_sampling.py --m 2000000 --repeats 1 --configs scs_g100k,scs_g1

Scores are i.i.d. standard normal float32 logits (std 1, seeded): a pool-sized score column whose
softmax is moderately peaked (the top example has ~e^5.7 times the median weight at 128M), so SCS and
HCS produce real repetitions (the paper's Figure 2 regime). ``N`` defaults to ``M``.

Each configuration runs in a fresh Python subprocess, so the reported peak memory (``ru_maxrss`` of
that process: scores + sampler, since numpy allocations are invisible to tracemalloc) belongs to that
configuration alone; the repeats run inside the subprocess and the median wall time of the sampler call
is reported (score generation is not timed). The FLYT paper's naive implementation (a full softmax and
sampling pass over the pool per round, 1280 rounds) took about 100 minutes for SCS at this scale.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "scs_g100k": "SCS, G = group_size (default 100K), alpha = 0.15",
    "scs_g1": "SCS, exact G = 1, alpha = 0.15",
    "hcs_b15": "HCS, beta = 15",
    "nocap": "no-cap (multinomial)",
    "threshold20": "threshold, top 20%",
}


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _worker(args) -> None:
    import numpy as np

    from clipcurate.sample.hcs import hcs, nocap
    from clipcurate.sample.scs import scs
    from clipcurate.sample.threshold import threshold_top_fraction

    rng = np.random.default_rng(args.score_seed)
    s = rng.standard_normal(args.m, dtype=np.float32)
    n = args.n or args.m
    base_rss = _rss_gb()
    calls = {
        "scs_g100k": lambda seed: scs(s, n, 0.15, args.group_size, seed),
        "scs_g1": lambda seed: scs(s, n, 0.15, 1, seed),
        "hcs_b15": lambda seed: hcs(s, n, 15, seed),
        "nocap": lambda seed: nocap(s, n, seed),
        "threshold20": lambda seed: threshold_top_fraction(s, 0.2),
    }
    times, counts = [], None
    for r in range(args.repeats):
        counts = None
        t0 = time.perf_counter()
        counts = calls[args.worker](args.seed + r)
        times.append(time.perf_counter() - t0)
    total = int(counts.sum(dtype=np.int64))
    expected = int(0.2 * args.m) if args.worker == "threshold20" else n
    out = {
        "config": args.worker,
        "times_s": times,
        "median_s": statistics.median(times),
        "peak_rss_gb": _rss_gb(),
        "scores_rss_gb": base_rss,
        "n_total": total,
        "ok": total == expected,
        "n_unique": int(np.count_nonzero(counts)),
        "max_count": int(counts.max()),
    }
    print("RESULT " + json.dumps(out), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--m", type=int, default=128_000_000, help="pool size M (default 128M)")
    ap.add_argument("--n", type=int, default=0, help="target size N (default M)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--group-size", type=int, default=100_000, help="G of the scs_g100k configuration")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {list(CONFIGS)}")
    ap.add_argument("--seed", type=int, default=0, help="sampler seed of the first repeat")
    ap.add_argument("--score-seed", type=int, default=12345)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    ap.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker(args)
        return 0

    import numpy as np

    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        ap.error(f"unknown configs {unknown}; known: {list(CONFIGS)}")
    n = args.n or args.m
    print(f"# command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(
        f"# M = {args.m:,}  N = {n:,}  repeats = {args.repeats}  cpus = {os.cpu_count()}  "
        f"python {platform.python_version()}  numpy {np.__version__}  {platform.machine()}"
    )
    print(f"{'config':<12} {'what':<42} {'median s':>9} {'min s':>8} {'max s':>8} {'peak GB':>8} {'scores GB':>9}  check")
    failed = False
    for cfg in configs:
        cmd = [
            sys.executable, os.path.abspath(__file__), "--worker", cfg, "--m", str(args.m), "--n", str(args.n),
            "--repeats", str(args.repeats), "--group-size", str(args.group_size), "--seed", str(args.seed),
            "--score-seed", str(args.score_seed),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{cfg:<12} TIMEOUT after {args.timeout:.0f} s")
            failed = True
            continue
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(f"{cfg:<12} FAILED (exit {proc.returncode})\n{proc.stderr[-2000:]}")
            failed = True
            continue
        r = json.loads(lines[-1][len("RESULT "):])
        what = CONFIGS[cfg].replace("group_size (default 100K)", f"{args.group_size:,}")
        check = (
            f"sum ok, unique {r['n_unique']:,}, max {r['max_count']}" if r["ok"] else f"SUM WRONG ({r['n_total']})"
        )
        failed |= not r["ok"]
        print(
            f"{cfg:<12} {what:<42} {r['median_s']:9.2f} {min(r['times_s']):8.2f} {max(r['times_s']):8.2f} "
            f"{r['peak_rss_gb']:8.2f} {r['scores_rss_gb']:9.2f}  {check}",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
