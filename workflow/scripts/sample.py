"""Turn a recipe's score into a subset, its stats JSON and repetition histogram (rules/sample.smk)."""

from clipcurate.core.runlog import start
from clipcurate.sample.subset import write_recipe_subset

log = start(snakemake)
stats = write_recipe_subset(
    snakemake.wildcards.recipe, snakemake.params.sample, snakemake.input.index, snakemake.input.scores or None,
    snakemake.output.subset, snakemake.output.npy, snakemake.params.n_target, snakemake.params.seed,
    out_stats=snakemake.output.stats, out_hist=snakemake.output.hist,
)
log.info(
    "subset %s: %d unique, %d total, max count %d (%s)", snakemake.wildcards.recipe,
    stats["n_unique"], stats["n_total"], stats["max_count"], stats["sampler"],
)
