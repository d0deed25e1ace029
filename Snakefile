# CLIP data-filtering research workflow: pool -> embeddings -> scores -> mixes -> subsets ->
# DataComp-style training -> zero-shot evaluation -> paper tables.
#
#   snakemake results/tables/table1.csv --cores 2                 # tiny world, one CPU machine
#   snakemake results/tables/table1.csv --profile profiles/slurm \
#       --configfile config/scales/medium.yaml site.yaml --directory /scratch/medium   # site.yaml: config/site.example.yaml
#
# The rules are thin: all logic lives in src/clipcurate (the `clipcurate` package, imported from src/).

import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

# The project is imported from this checkout's src/, by this process and by every job (their
# environments, a venv or the per-rule conda envs, need no install of it). Set at parse time, so it
# also holds in Slurm jobs, which re-parse this file.
SRC_DIR = f"{workflow.basedir}/src"
sys.path.insert(0, SRC_DIR)
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in dict.fromkeys([SRC_DIR, *os.getenv("PYTHONPATH", "").split(os.pathsep)]) if p)
)

# Paths relative to this file, so that --directory <workdir> runs the same workflow elsewhere.
configfile: f"{workflow.basedir}/config/config.yaml"
configfile: f"{workflow.basedir}/config/scales/tiny.yaml"

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


validate(config, f"{workflow.basedir}/config/schema.yaml")
check_config()


include: "rules/world.smk"
include: "rules/pool.smk"
include: "rules/models.smk"
include: "rules/embed.smk"
include: "rules/score.smk"
include: "rules/mix.smk"
include: "rules/sample.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/tables.smk"


rule all:
    default_target: True
    input:
        expand("results/tables/{table}.csv", table=DEFAULT_TABLES),
