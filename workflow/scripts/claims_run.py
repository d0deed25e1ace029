"""One claims run (rule claims_run): the files the claims read, built by a nested snakemake with another seed."""

import snakemake as _snakemake  # noqa: F401 - the run is `python -m snakemake` of this environment

from pathlib import Path

from clipcurate.core.runlog import start
from clipcurate.report.claims_runs import run_claims_seed

log = start(snakemake)
p = snakemake.params
repo = Path(snakemake.scriptdir).parents[1]  # workflow/scripts/ -> the repository (its Snakefile)
run_claims_seed(seed=p.seed, repo=repo, targets=p.targets, configfiles=p.configfiles,
                overrides=p.overrides, rows_only=p.rows_only, cores=snakemake.threads, extra_args=p.snakemake_args,
                out=snakemake.output[0], log=log)
