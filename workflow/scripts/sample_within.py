"""Turn a recipe restricted to a sub-pool (``within``) into a subset, its stats JSON and repetition
histogram (rules/sample.smk, rule sample_within)."""

from clipcurate.core.runlog import start
from clipcurate.sample.within import write_within_subset

log = start(snakemake)
stats = write_within_subset(
    snakemake.wildcards.recipe, snakemake.params.sample, snakemake.input.index, snakemake.input.scores or None,
    snakemake.input.within, snakemake.params.within, snakemake.output.subset, snakemake.output.npy,
    snakemake.params.n_target, snakemake.params.seed, out_stats=snakemake.output.stats, out_hist=snakemake.output.hist,
)
log.info(
    "subset %s within %s (%d rows): %d unique, %d total, max count %d (%s)", snakemake.wildcards.recipe,
    stats["within"], stats["n_within"], stats["n_unique"], stats["n_total"], stats["max_count"], stats["sampler"],
)
