"""Embed the evaluation suite's test images by one model (rules/dedup.smk)."""

from clipcurate.pool.dedup_inputs import embed_eval_images
from clipcurate.core.runlog import start

log = start(snakemake)
stats = embed_eval_images(snakemake.params.suite, snakemake.params.root, snakemake.params.spec, snakemake.output[0],
                          batch_size=snakemake.params.batch_size, dtype=snakemake.params.dtype)
log.info("evaluation images embedded: %s", stats)
