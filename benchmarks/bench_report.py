"""Time and size of `snakemake --report` on a working directory where table1 is built.

    python benchmarks/bench_report.py --workdir DIR [--configfile EXTRA.yaml ...] [--repeats 3]
                                      [--flyt-tables table2 table3 table14 figure3]

Builds ``report.html`` for table1 ``--repeats`` times and prints the median wall time, the report's
size and the peak RSS of the Snakemake process. Then it sizes the report of table1 plus the FLYT
tables without training their 26 models: a dry run counts the report items of that DAG per rule,
and each item is given the mean size of the same rule's items in the table1 report (figures have
the same pixel size at every scale; FLYT curves, absent from table1, are drawn from a 60-step
history). The estimate is the table1 report's size minus its items, plus those items, base64-encoded.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]
#: report items per job of each rule (outputs flagged report(...))
ITEMS = {"table": 3, "pool_figure": 1, "download": 1, "score_figure": 1, "sample": 1, "train_figure": 1,
         "model_figure": 1, "eval_figure": 2, "flyt_figure": 1, "train_mflyt": 1}


def smk(workdir, *args) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), *args], capture_output=True, text=True)
    if proc.returncode:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"snakemake {' '.join(args[:3])} ... failed")
    return proc


def report_items(html: str) -> dict:
    """path -> (rule, base64 length) of each result embedded in a report."""
    m = re.search(r"var results = (\{.*?\});?\s*</script>", html, re.S)
    results = json.loads(m.group(1))
    return {p: (r["job_properties"]["rule"], len(r["data_uri"])) for p, r in results.items()}


def job_counts(workdir, targets, config_args) -> Counter:
    out = smk(workdir, *targets, *config_args, "-n", "--forceall", "--quiet", "rules")
    counts = Counter()
    for line in (out.stdout + out.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] in ITEMS:
            counts[parts[0]] = max(counts[parts[0]], int(parts[1]))
    return counts


def flyt_curve_bytes() -> int:
    from clipcurate.report.plots import flyt_curves

    hist = [{"step": s, "upstream_loss": 3 - s / 60, "downstream_loss": 2 - s / 90, "mixer_weights": [s / 60, -s / 90]}
            for s in range(60)]
    with tempfile.TemporaryDirectory() as d:
        flyt_curves({"inputs": ["clip_score", "eflyt"], "history": hist}, Path(d) / "f.png", title="mflyt")
        return (Path(d) / "f.png").stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--configfile", nargs="*", default=[])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--flyt-tables", nargs="*", default=["table2", "table3", "table14", "figure3"])
    a = ap.parse_args()
    cfg = ["--configfile", *a.configfile] if a.configfile else []
    report = a.workdir / "bench_report.html"
    walls = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        smk(a.workdir, "--report", str(report), "results/tables/table1.csv", *cfg)
        walls.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    html = report.read_text()
    items = report_items(html)
    size = report.stat().st_size
    print(f"report for table1: median {statistics.median(walls):.1f} s over {len(walls)} builds "
          f"({', '.join(f'{w:.1f}' for w in walls)}); {size / 1e6:.2f} MB, {len(items)} items; "
          f"peak RSS {peak_mb:.0f} MB (target: <= 30 s)")

    per_rule: dict[str, list[int]] = {}
    for rule, n in items.values():
        per_rule.setdefault(rule, []).append(n)
    base = size - sum(n for _, n in items.values())
    per_item = {r: statistics.mean(v) for r, v in per_rule.items()}
    per_item.setdefault("flyt_figure", flyt_curve_bytes() * 4 / 3)
    per_item.setdefault("train_mflyt", 200)
    counts = job_counts(a.workdir, ["results/tables/table1.csv", *(f"results/tables/{t}.csv" for t in a.flyt_tables)], cfg)
    est = base + sum(ITEMS[r] * c * per_item.get(r, 0) for r, c in counts.items())
    n_items = sum(ITEMS[r] * c for r, c in counts.items())
    print(f"report for table1 + {', '.join(a.flyt_tables)}: {n_items} items, estimated {est / 1e6:.1f} MB "
          f"(Snakemake's page {base / 1e6:.1f} MB + items; target: <= 20 MB, else --report report.zip)")
    print("mean embedded size per item (kB):", {r: round(v / 1e3, 1) for r, v in sorted(per_item.items())})
    print("jobs per rule:", dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
