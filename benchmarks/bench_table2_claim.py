"""FLYT's central claim on the tiny world, checked over world seeds: M-FLYT (over all twelve inputs)
beats every single input and the Standardized Sum (FLYT Table 2).

For each seed s the workflow runs Table 2 in a working directory of its own,
``<workdir>/seed<s>``, with ``config/claims.yaml`` (evaluation sets large enough to tell rows apart)
and a one-line config ``world: {seed: s}`` (config/claims.yaml's header gives the pattern)::

    snakemake results/tables/table2.csv --cores C --configfile config/claims.yaml <workdir>/seed<s>.yaml \\
        --directory <workdir>/seed<s>

then reads each run's ``results/tables/table2.csv`` and prints, per seed, on the ImageNet analogue
and on the Average: M-FLYT, the best of the twelve single inputs (which one), the Standardized Sum,
and M-FLYT's margins over both with their standard errors (clipcurate.report.claims' rule: a margin counts
when it exceeds 2 SE), and whether the M-FLYT run's reference model started below chance on the
downstream task (clipcurate.train.flyt.signal; on the tiny world M-FLYT lost where it did not).
Nothing here is tuned against the evaluation tasks; the script only reads the tables the configured
recipes give.

    python benchmarks/bench_table2_claim.py --workdir claims_table2 --seeds 0 1 2 --cores 2
    python benchmarks/bench_table2_claim.py --workdir claims_table2 --seeds 0 1 2 -n    # plan only (dry run)
    python benchmarks/bench_table2_claim.py --workdir claims_table2 --report-only       # print finished runs

Cost: Table 2 on one seed trains one CLIP model per row (19) plus the reference models, the DFNs,
the classifiers, HYPE's hyperbolic CLIP, E-FLYT and M-FLYT (``-n`` prints the job counts); each tiny
training takes minutes on 2 cores, so three seeds are hours.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = "results/tables/table2.csv"
#: Table 2's labels (config/tables/flyt.yaml): the twelve inputs and the two aggregations compared
INPUTS = ["ViT-B/32", "ViT-L/14", "DFN-Base", "DFN-FT", "HYPE -d_L", "HYPE eps_i", "HYPE eps_t", "s-CLIPLoss",
          "NormSim_inf (IN1K)", "IN1K-Classifier", "CC2M-Classifier", "E-FLYT"]
MFLYT, STD_SUM = "M-FLYT", "Standardized Sum"
METRICS = ("ImageNet", "Average")


def seed_dir(workdir: Path, seed: int) -> Path:
    return workdir / f"seed{seed}"


def run_seed(workdir: Path, seed: int, cores: int, dry_run: bool, extra: list[str]) -> int:
    """Run (or plan) Table 2 for one world seed in its own working directory."""
    d = seed_dir(workdir, seed)
    d.mkdir(parents=True, exist_ok=True)
    seed_cfg = workdir / f"seed{seed}.yaml"
    seed_cfg.write_text(f"world: {{seed: {seed}}}\n")
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", str(cores),
           "--configfile", str(REPO / "config" / "claims.yaml"), str(seed_cfg.resolve()),
           "--directory", str(d.resolve()), *(["-n", "--quiet", "rules"] if dry_run else []), *extra, "--", TABLE]
    print("$", " ".join(cmd), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    t0 = time.time()
    rc = subprocess.call(cmd, cwd=REPO, env=env)
    print(f"seed {seed}: snakemake exit {rc} after {time.time() - t0:.0f} s", flush=True)
    return rc


def read_rows(path: Path) -> dict[str, dict[str, float]]:
    """Table 2's rows by label: each metric and its standard error (NaN where missing)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))

    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    return {r["method"]: {k: num(v) for k, v in r.items() if k != "method"} for r in rows}


def compare(rows: dict[str, dict[str, float]], metric: str) -> dict:
    """M-FLYT against the best single input and the Standardized Sum on one metric."""
    missing = [r for r in (MFLYT, STD_SUM, *INPUTS) if r not in rows]
    if missing:
        raise KeyError(f"table 2 has no row(s) {missing}; rows: {sorted(rows)}")
    se = f"{metric}_se"
    best = max(INPUTS, key=lambda r: rows[r][metric])
    m, s = rows[MFLYT], rows[STD_SUM]
    out = {"mflyt": m[metric], "best_input": best, "best": rows[best][metric], "std_sum": s[metric]}
    out["vs_best"] = m[metric] - rows[best][metric]
    out["vs_best_se"] = math.hypot(m.get(se, math.nan), rows[best].get(se, math.nan))
    out["vs_std_sum"] = m[metric] - s[metric]
    out["vs_std_sum_se"] = math.hypot(m.get(se, math.nan), s.get(se, math.nan))
    return out


def reference_signal(workdir: Path, seed: int, run: str = "mflyt") -> str:
    """One line on the M-FLYT run's downstream signal (clipcurate.train.flyt.signal): did its reference
    model start below chance (ln C) on the downstream task, and did the loss move?"""
    from clipcurate.train.flyt.signal import downstream_signal

    path = seed_dir(workdir, seed) / "results" / "flyt" / run / "train_info.json"
    if not path.exists():
        return f"{path} not made"
    info = json.loads(path.read_text())
    sig = info.get("downstream_signal") or downstream_signal(  # files written before the check existed
        [h["downstream_loss"] for h in info["history"]], info["downstream"]["classes"],
        info["train"].get("downstream_loss", "ce"))
    if sig["start"] is None:
        return "too few steps to judge"
    chance = "" if sig.get("above_chance") is None else (
        f" (ln C = {sig['chance']:.4f}: {'below' if sig['above_chance'] else 'AT'} chance)")
    return (f"downstream loss {sig['start']:.4f} +- {sig['start_se']:.4f} -> {sig['end']:.4f} +- {sig['end_se']:.4f}"
            f"{chance}, {'moved' if sig['moved'] else 'did not move'}; "
            f"{sum(w > 0 for w in info.get('weights', {}).values())} of {len(info.get('weights', {}))} weights positive")


def verdict(diff: float, se: float) -> str:
    if math.isnan(diff) or math.isnan(se):
        return "?"
    return "wins" if diff > 2 * se else ("loses" if diff < -2 * se else "tie")


def report(workdir: Path, seeds: list[int]) -> int:
    print(f"\nFLYT Table 2 claim on the tiny world ({len(seeds)} seeds): M-FLYT vs the best single input and "
          "the Standardized Sum (difference +- SE; 'wins' when > 2 SE)")
    missing = 0
    for seed in seeds:
        path = seed_dir(workdir, seed) / TABLE
        if not path.exists():
            print(f"seed {seed}: {path} not made")
            missing += 1
            continue
        rows = read_rows(path)
        for metric in METRICS:
            c = compare(rows, metric)
            print(f"seed {seed} {metric:8s}: M-FLYT {c['mflyt']:.4f} | best input {c['best_input']} {c['best']:.4f}: "
                  f"{c['vs_best']:+.4f} +- {c['vs_best_se']:.4f} ({verdict(c['vs_best'], c['vs_best_se'])}) | "
                  f"Standardized Sum {c['std_sum']:.4f}: {c['vs_std_sum']:+.4f} +- {c['vs_std_sum_se']:.4f} "
                  f"({verdict(c['vs_std_sum'], c['vs_std_sum_se'])})")
        print(f"seed {seed} M-FLYT's reference model: {reference_signal(workdir, seed)}")
    return 1 if missing else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=REPO / "claims_table2")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("-n", "--dry-run", action="store_true", help="plan each seed's jobs, run nothing")
    ap.add_argument("--report-only", action="store_true", help="only print the finished runs' comparison")
    ap.add_argument("snakemake_args", nargs="*", help="passed to snakemake (after --)")
    a = ap.parse_args(argv)
    workdir = a.workdir.resolve()
    if not a.report_only:
        for seed in a.seeds:
            rc = run_seed(workdir, seed, a.cores, a.dry_run, a.snakemake_args)
            if rc:
                return rc
        if a.dry_run:
            return 0
    return report(workdir, a.seeds)


if __name__ == "__main__":
    raise SystemExit(main())
