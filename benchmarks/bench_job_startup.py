"""CPU time a job spends before its work: Python, its script's imports and ``runlog.start``.

Most jobs of the main job (table1 on the tiny world) work for a second or less, so what they import
decides their cost. For each workflow script this runs, in a fresh interpreter, the script's
module-level imports and ``clipcurate.core.runlog.start`` with a stand-in ``snakemake`` object (what a
job does before it reads its inputs), and prints the median CPU time (user + sys of the process)
over ``--repeats`` runs, with the heavy packages the start-up loaded. ``--src`` times another
checkout's ``src/`` and ``workflow/scripts/`` (e.g. an export of an older commit) for comparison.

    .venv/bin/python benchmarks/bench_job_startup.py [--repeats 5] [--src DIR] [--scripts table sample ...]

The count of each script's jobs in table1 (``TABLE1_JOBS``) weights the total, so the last line is
the start-up CPU of table1's jobs (their Snakemake preamble, the same for every job, not included).
"""

from __future__ import annotations

import argparse
import ast
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "open_clip", "clip_benchmark", "webdataset", "pandas", "matplotlib", "sklearn", "PIL", "img2dataset")

#: jobs per script in `snakemake results/tables/table1.csv` on the tiny world (4 chunks, 3 recipes,
#: the figures the table rule requests included)
TABLE1_JOBS = {
    "world": 1, "pool_metadata": 1, "download": 1, "pool_index": 1, "train_reference_model": 1,
    "embed": 4, "score_chunk": 4, "score": 2, "sample": 3, "reshard": 3, "train": 3, "evaluate": 3,
    "table": 1, "figure_pool": 1, "figure_score": 2, "figure_train": 4, "figure_eval": 3, "figure_quality": 1,
}

PROBE = """
import sys, types, json
sys.path.insert(0, {src!r})
{imports}
from clipcurate.core.runlog import start
start(types.SimpleNamespace(threads=1, log=[{log!r}], rule="probe"))
sys.__stdout__.write(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def script_imports(path: Path) -> str:
    """The module-level import statements of a workflow script, as source."""
    tree = ast.parse(path.read_text())
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def startup_cpu(src: Path, script: Path, log: Path) -> tuple[float, list[str]]:
    code = PROBE.format(src=str(src), imports=script_imports(script), log=str(log), heavy=HEAVY)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise SystemExit(f"{script}: start-up failed:\n{out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--src", type=Path, default=REPO, help="checkout whose src/ and workflow/scripts/ are timed")
    ap.add_argument("--scripts", nargs="*", default=sorted(TABLE1_JOBS))
    args = ap.parse_args()
    root = args.src.resolve()
    total = 0.0
    print(f"{'script':24s} {'table1 jobs':>11s} {'CPU s (median)':>14s}  heavy packages loaded")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scripts:
            runs = [startup_cpu(root / "src", root / "workflow" / "scripts" / f"{name}.py", Path(tmp) / "p.log")
                    for _ in range(args.repeats)]
            cpu = statistics.median(r[0] for r in runs)
            total += cpu * TABLE1_JOBS.get(name, 0)
            print(f"{name:24s} {TABLE1_JOBS.get(name, 0):11d} {cpu:14.2f}  {' '.join(runs[0][1])}")
    print(f"start-up CPU of table1's jobs (median per script x its jobs): {total:.0f} s")


if __name__ == "__main__":
    main()
