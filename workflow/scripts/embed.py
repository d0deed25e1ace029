"""Embed one chunk of the pool (rules/embed.smk)."""

from clipcurate.embed import embed_chunk
from clipcurate.runlog import start

log = start(snakemake)
stats = embed_chunk(
    snakemake.input.index, snakemake.input.shards, int(snakemake.wildcards.chunk), snakemake.params.spec,
    snakemake.output[0], batch_size=snakemake.params.batch_size, dtype=snakemake.params.dtype,
)
log.info("embedded %s", stats)
