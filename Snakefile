# CLIP data-filtering research workflow: pool -> embeddings -> scores -> mixes -> subsets ->
# DataComp-style training -> zero-shot evaluation -> paper tables.
#
#   snakemake results/tables/table1.csv --cores 2                 # tiny world, one CPU machine
#   snakemake results/tables/table1.csv --profile profiles/slurm \
#       --configfile config/scales/medium.yaml --directory /scratch/medium
#
# The rules are thin: all logic lives in src/clipcurate (installed as the `clipcurate` package).

from snakemake.utils import min_version, validate

min_version("9.0")

# Paths relative to this file, so that --directory <workdir> runs the same workflow elsewhere.
configfile: f"{workflow.basedir}/config/config.yaml"
configfile: f"{workflow.basedir}/config/scales/tiny.yaml"


include: "rules/common.smk"

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
include: "rules/reports.smk"


rule all:
    default_target: True
    input:
        expand("results/tables/{table}.csv", table=DEFAULT_TABLES),
