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

configfile: "config/config.yaml"
configfile: "config/scales/tiny.yaml"


include: "rules/common.smk"


validate(config, "config/schema.yaml")
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
