"""The claims target: every configured claim decided over several runs of the workflow.

``results/reports/claims.csv`` answers, for each claim of ``reports.claims`` (two rows of a table, a
metric, a direction; :mod:`clipcurate.report.claims`), whether it holds on every run, is reversed,
or cannot be decided with these test sets. A run is the same workflow with another seed (on the
tiny world, the seed draws another world, other training orders and other samples), in its own
working directory ``results/claims/seed{seed}/`` with the evaluation sets of ``configfiles`` added
(``config/claims.yaml``: several thousand test images on the tasks the claims read).

Each run is a nested Snakemake invocation (rule ``claims_run``) that builds the files the claims
read, and only those; a second call reruns only what changed in it, as any Snakemake run does.
With ``reports.claims_runs.rows: claimed`` (the default) a run also builds only the rows the claims
compare (:func:`claimed_rows`, config ``rows_only``): its tables hold those rows and its data-quality
figure those points, and the models of every other row are never trained. ``rows: all`` builds the
whole tables. The
runs' config is the caller's: the same config files, the same ``--config`` overrides, then the
claims' config files, then ``seed``. ``snakemake_args`` (config) passes e.g. ``--profile slurm``
so that on a cluster each run submits its own jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from clipcurate.core.fileio import atomic_path
from clipcurate.report.claims import claim_file


def run_dir(seed: int) -> str:
    return f"results/claims/seed{int(seed)}"


def claim_targets(claims: Sequence[Mapping]) -> list[str]:
    """The files the claims read in each run (tables' CSVs, the DFN data-quality CSV), once each."""
    return sorted({claim_file(c) for c in claims})


def claimed_rows(claims: Sequence[Mapping]) -> dict[str, list[str]]:
    """``{table name or file: [row labels]}``: the rows the claims compare, for ``rows_only``.

    A table's rows are keyed by the table's name, a file's (the DFN data-quality points) by its path,
    as ``rows_only`` (:mod:`clipcurate.config.rows_only`) reads them."""
    out: dict[str, set] = {}
    for c in claims:
        key = c.get("table") or claim_file(c)
        out.setdefault(key, set()).update((c["better"], c["worse"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def seeded(overrides: Mapping, seed: int, rows_only: Mapping | None = None) -> dict:
    """The caller's ``--config`` values with ``seed`` (every random step) and ``world.seed`` (the
    tiny world itself, held apart from ``seed`` in the main config) set to the run's seed, and
    ``rows_only`` (the claimed rows; ``None``: every row) so that the run trains only what the claims read."""
    out = dict(overrides)
    out["seed"] = int(seed)
    out["world"] = {**dict(out.get("world") or {}), "seed": int(seed)}
    if rows_only:
        out["rows_only"] = {k: list(v) for k, v in rows_only.items()}
    return out


def run_command(snakefile: str, workdir: str, targets: Sequence[str], configfiles: Sequence[str], cores: int,
                extra_args: Sequence[str] = ()) -> list[str]:
    """The nested Snakemake command of one run (all paths absolute: it runs in another directory)."""
    cmd = [sys.executable, "-m", "snakemake", *targets, "--snakefile", snakefile, "--directory", workdir,
           "--cores", str(int(cores)), "--rerun-incomplete"]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    return [*cmd, *extra_args]


def run_claims_seed(*, seed: int, repo: str | os.PathLike, targets: Sequence[str], configfiles: Sequence[str],
                    overrides: Mapping, cores: int, extra_args: Sequence[str], out: str | os.PathLike, log,
                    rows_only: Mapping | None = None) -> None:
    """Build ``targets`` in ``results/claims/seed{seed}`` with the caller's config plus ``seed``
    (and ``rows_only``: see :func:`seeded`); the nested Snakemake's output goes to ``log`` as it comes.

    ``configfiles`` are relative to the caller's working directory (made absolute here, not in the
    rule's params, which must not depend on the machine); ``overrides`` are the caller's ``--config``
    values, written with the seeds (:func:`seeded`) to the run's own ``overrides.yaml``, the last config file.
    """
    repo = Path(repo).resolve()
    work = Path(run_dir(seed)).resolve()
    work.mkdir(parents=True, exist_ok=True)
    files = []
    for f in configfiles:
        p = Path(f) if Path(f).is_absolute() else Path.cwd() / f
        if not p.exists():
            p = repo / f
        if not p.exists():
            raise FileNotFoundError(f"claims run (seed {seed}): config file {f} not found (from {Path.cwd()} or {repo})")
        files.append(str(p.resolve()))
    over = work / "overrides.yaml"
    with atomic_path(over) as tmp:
        tmp.write_text(yaml.safe_dump(seeded(overrides, seed, rows_only), sort_keys=True))
    cmd = run_command(str(repo / "Snakefile"), str(work), targets, [*files, str(over)], cores, extra_args)
    log.info("claims run, seed %d: %s", seed, " ".join(cmd))
    # streamed line by line: a run takes hours on one machine, and its progress belongs in the log
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            log.info("%s", line.rstrip("\n"))
        returncode = proc.wait()
    if returncode != 0:
        raise RuntimeError(f"claims run (seed {seed}) failed with exit code {returncode}; "
                           f"its Snakemake log is above and in {work}/.snakemake/log/")
    missing = [t for t in targets if not (work / t).exists()]
    if missing:
        raise RuntimeError(f"claims run (seed {seed}): the run finished but did not write {missing}")
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"seed": int(seed), "targets": list(targets), "directory": run_dir(seed)}, indent=1))


def write_claims(claims: Sequence[Mapping], run_dirs: Sequence[str], z: float, csv_path, md_path) -> list[dict]:
    """Decide every claim over ``run_dirs``; write the CSV and a Markdown section for the report."""
    from clipcurate.report.claims import decide_claims, to_csv

    rows = decide_claims(claims, run_dirs, z)
    with atomic_path(csv_path) as tmp:
        tmp.write_text(to_csv(rows))
    lines = [f"# Claims over {len(run_dirs)} runs ({', '.join(Path(d).name for d in run_dirs)})", "",
             f"A run supports a claim when the difference exceeds {z:g} standard errors of the difference; a "
             "claim holds when the required runs support it and none reverses it, and is not decided otherwise.", "",
             "| claim | metric | verdict | runs supporting / reversing | differences (± SE) per run |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['metric']} | **{r['verdict']}** | {r['supporting']} / {r['reversed']} "
                     f"of {r['runs']} | {r['differences']} |")
    with atomic_path(md_path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return rows
