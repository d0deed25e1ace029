"""Turn a recipe's score into a subset (rules/sample.smk)."""

from clipcurate.runlog import start
from clipcurate.subset import write_recipe_subset

log = start(snakemake)
stats = write_recipe_subset(
    snakemake.wildcards.recipe, snakemake.params.sample, snakemake.input.index, snakemake.input.scores or None,
    snakemake.output.subset, snakemake.output.npy, snakemake.params.n_target, snakemake.params.seed,
)
log.info("subset %s: %s", snakemake.wildcards.recipe, stats)
