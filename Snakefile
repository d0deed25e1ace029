# CLIP data-filtering research workflow: pool -> embeddings -> scores -> mixes -> subsets ->
# DataComp-style training -> zero-shot evaluation -> paper tables.
#
#   snakemake results/tables/table1.csv --cores 2                 # tiny world, one CPU machine
#   snakemake results/tables/table1.csv --profile slurm \
#       --configfile config/scales/medium.yaml site.yaml --directory /scratch/medium   # site.yaml: config/site.example.yaml
#
# The rules are thin: all logic lives in src/clipcurate (the `clipcurate` package, imported from src/).

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The project is imported from this checkout's src/, by this process and by every job (their
# environments, a venv or the per-rule conda envs, need no install of it). Set at parse time, so it
# also holds in Slurm jobs, which re-parse this file.
SRC_DIR = f"{workflow.basedir}/src"
sys.path.insert(0, SRC_DIR)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in dict.fromkeys([SRC_DIR, *os.getenv("PYTHONPATH", "").split(os.pathsep)]) if p)
)

from clipcurate.config import check as config_check, profiles  # noqa: E402  (from the src/ just put on the path)

# `-n` with `--profile slurm` (conda deployment) where conda is absent, e.g. a login node: plan
# without the conda envs instead of failing on `conda info`; real runs and jobs still use conda.
profiles.plan_without_conda(workflow, logger.warning)

# Paths relative to this file, so that --directory <workdir> runs the same workflow elsewhere.
# The shipped config files are parsed first so that a YAML error names file and line (Snakemake's own
# loader does not); files given with --configfile are parsed by Snakemake before this file runs.
CONFIG_FILES = [f"{workflow.basedir}/config/config.yaml", f"{workflow.basedir}/config/scales/tiny.yaml"]
config_check.check_yaml_files(CONFIG_FILES)


configfile: CONFIG_FILES[0]
configfile: CONFIG_FILES[1]


# Merge config/recipes and config/tables, validate against config/schema.yaml and run every
# cross-check (samplers, mixes, world, score references) before any rule is planned or job started:
# Snakemake deletes a job's outputs before the job runs, so a config error found by a job costs them.
config_check.prepare(
    config,
    workflow.basedir,
    config_check.sources_of([*CONFIG_FILES, *workflow.overwrite_configfiles], workflow.config_settings.config),
)

# `snakemake --report report.html [targets]`: this description, then every output flagged report(...)
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/report_common.smk"

wildcard_constraints:
    recipe=r"[A-Za-z0-9_.\-]+",
    table=r"[A-Za-z0-9_.\-]+",
    model=r"[A-Za-z0-9_.\-]+",
    score=r"[A-Za-z0-9_.\-]+",
    mix=r"[A-Za-z0-9_.\-]+",
    chunk=r"\d{5}",
    seed=r"\d+",


include: "rules/world.smk"
include: "rules/pool.smk"
include: "rules/models.smk"
include: "rules/embed.smk"
include: "rules/dedup.smk"
include: "rules/score.smk"
include: "rules/mix.smk"
include: "rules/sample.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"
include: "rules/reports.smk"


# `snakemake figures`: the figures behind the default tables (rules/tables.smk: table_figures); the
# tables themselves do not wait for them
rule figures:
    input:
        expand("results/figures/{table}.txt", table=DEFAULT_TABLES),


rule all:
    default_target: True
    input:
        expand("results/tables/{table}.csv", table=DEFAULT_TABLES),
        rules.figures.input,
