"""Embed a whole reference set by one model (rules/embed.smk)."""

from clipcurate.embed.encode import embed_reference
from clipcurate.core.runlog import start

log = start(snakemake)
stats = embed_reference(
    snakemake.params.set_dir, snakemake.params.spec, snakemake.output[0],
    batch_size=snakemake.params.batch_size, dtype=snakemake.params.dtype,
)
log.info("embedded %s", stats)
