"""Per-stage wall and CPU time of the main job (table1 on the tiny world) and the real-scale dry runs.

    python benchmarks/bench_workflow.py [--workdir DIR] [--seeds 0 1 2] [--skip-run] [--skip-dryrun]
                                        [--configfile EXTRA.yaml ...] [--dry-scales medium xlarge]
                                        [--dry-repeats 3]
    python benchmarks/bench_workflow.py --stages-of .   # the per-rule table of a finished run here

For each world seed it runs ``snakemake results/tables/table1.csv --cores 2`` in a fresh working
directory, prints the table, the total wall time and the CPU time (user + sys) of the whole run
(every job and Snakemake itself), and per-rule job count, wall time, CPU time and peak RSS from
Snakemake's ``benchmark:`` files. On a shared machine the wall times grow with the load and the CPU
times much less, so the CPU times are the numbers to compare between runs there. Then it plans
table1 at medium and xlarge scale from listings of 12,800 and 1,280,000 shard names (no data) and
prints the dry runs' median wall time and job count (``--dry-scales``, ``--dry-repeats``).
``--configfile`` adds config files (e.g. ``tests/workflow/micro.yaml`` times the workflow test's
chain).
"""

from __future__ import annotations

import argparse
import csv
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from clipcurate.pool.download import free_port

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def run_table1(workdir: Path, seed: int, cores: int, extra: list[Path]) -> tuple[float, float]:
    """Build table1 in ``workdir``; return (wall s, CPU s of the run: user + sys of all its processes)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump({"seed": seed, "world": {"seed": seed, "serve_port": free_port()}}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "results/tables/table1.csv", "--cores", str(cores),
                           "--configfile", *map(str, extra), str(cfg)], capture_output=True, text=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        print(proc.stderr[-3000:])
        raise SystemExit(f"table1 run failed for seed {seed}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _number(row: dict, key: str) -> float:
    v = row.get(key, "NA")
    return float(v) if v not in ("NA", "-", "", None) else 0.0


def stage_times(workdir: Path) -> dict:
    """rule -> [wall s summed over its jobs, largest peak RSS MB, job count, CPU s summed], from the
    ``benchmark:`` files under ``workdir/results/benchmarks`` (rules without one are not counted)."""
    per_rule = defaultdict(lambda: [0.0, 0.0, 0, 0.0])
    for tsv in (workdir / "results" / "benchmarks").rglob("*.tsv"):
        rule = tsv.relative_to(workdir / "results" / "benchmarks").parts[0]
        rows = list(csv.DictReader(open(tsv), delimiter="\t"))
        if not rows:
            continue
        per_rule[rule][0] += _number(rows[0], "s")
        per_rule[rule][1] = max(per_rule[rule][1], _number(rows[0], "max_rss"))
        per_rule[rule][2] += 1
        per_rule[rule][3] += _number(rows[0], "cpu_time")
    return per_rule


def print_stages(per_rule: dict) -> None:
    print(f"{'rule':28s} {'jobs':>4s} {'wall s (sum)':>12s} {'CPU s (sum)':>11s} {'max RSS MB':>10s}")
    for rule, (s, rss, n, cpu) in sorted(per_rule.items(), key=lambda kv: -kv[1][3]):
        print(f"{rule:28s} {n:4d} {s:12.1f} {cpu:11.1f} {rss:10.0f}")
    jobs = sum(v[2] for v in per_rule.values())
    print(f"{'all jobs with a benchmark':28s} {jobs:4d} {sum(v[0] for v in per_rule.values()):12.1f} "
          f"{sum(v[3] for v in per_rule.values()):11.1f}")


# Shards of DataComp's pools (10,000 samples per shard): the dry runs plan from a listing of names.
DRY_RUN_SHARDS = {"medium": 12_800, "xlarge": 1_280_000}


def dry_run(scale: str, tmp: Path) -> tuple[float, float, str]:
    """Plan table1 at ``scale`` from a listing of shard names (no data); return (wall s, peak RSS
    MB of the snakemake process, Snakemake's job count line)."""
    listing = tmp / "shards.txt"
    listing.write_text("".join(f"{i:08d}.tar\n" for i in range(DRY_RUN_SHARDS[scale])))
    cfg = tmp / f"{scale}.yaml"
    cfg.write_text(yaml.safe_dump({"pool": {"source": "datacomp", "metadata_dir": str(tmp / "metadata"),
                                            "shard_list": str(listing)},
                                   "evaluation": {"data_root": str(tmp / "eval")}}))
    (tmp / "metadata").mkdir(exist_ok=True)
    (tmp / "eval").mkdir(exist_ok=True)
    cmd = [*SNAKEMAKE, "--directory", str(tmp), "results/tables/table1.csv", "-n", "--quiet", "rules",
           "--configfile", str(REPO / f"config/scales/{scale}.yaml"), str(cfg)]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode:
        print(out[-2000:], err[-3000:])
        raise SystemExit(f"{scale} dry run failed")
    jobs = [line for line in out.splitlines() if line.startswith("total")]
    return wall, rss, jobs[0].split()[-1] if jobs else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--skip-dryrun", action="store_true")
    ap.add_argument("--dry-scales", nargs="+", default=list(DRY_RUN_SHARDS), choices=list(DRY_RUN_SHARDS))
    ap.add_argument("--dry-repeats", type=int, default=3)
    ap.add_argument("--configfile", type=Path, nargs="*", default=[], help="extra config files, before the seed's")
    ap.add_argument("--stages-of", type=Path, default=None, metavar="DIR",
                    help="only print the per-rule table of a finished run in working directory DIR (e.g. .)")
    args = ap.parse_args()
    if args.stages_of:
        print_stages(stage_times(args.stages_of))
        return
    base = args.workdir or Path(tempfile.mkdtemp(prefix="bench_workflow_"))
    walls, cpus = [], []
    if not args.skip_run:
        for seed in args.seeds:
            wd = base / f"seed{seed}"
            wall, cpu = run_table1(wd, seed, args.cores, [p.resolve() for p in args.configfile])
            walls.append(wall)
            cpus.append(cpu)
            print(f"\n=== world seed {seed}: table1 in {wall:.0f} s, {cpu:.0f} s of CPU (user + sys, all processes) ===")
            print((wd / "results/tables/table1.md").read_text())
            print_stages(stage_times(wd))
        print(f"\nmain job wall time: median {statistics.median(walls):.0f} s over {len(walls)} run(s); "
              f"CPU time: median {statistics.median(cpus):.0f} s")
    if not args.skip_dryrun:
        for scale in args.dry_scales:
            runs = [dry_run(scale, Path(tempfile.mkdtemp(prefix=f"bench_dry_{scale}_"))) for _ in range(args.dry_repeats)]
            for wall, _, jobs in runs:
                print(f"{scale} dry run ({DRY_RUN_SHARDS[scale]:,} shards, {jobs} jobs): {wall:.1f} s")
            print(f"{scale} dry run: median {statistics.median(r[0] for r in runs):.1f} s over {len(runs)} runs; "
                  f"{runs[0][2]} jobs; peak RSS (largest child so far) {max(r[1] for r in runs):.0f} MB")


if __name__ == "__main__":
    main()
