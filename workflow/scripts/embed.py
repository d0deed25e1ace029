"""Embed one chunk of the pool, as given or as an image variant (rules/embed.smk)."""

from clipcurate.embed import embed_chunk
from clipcurate.runlog import start

log = start(snakemake)
stats = embed_chunk(
    snakemake.input.index, snakemake.input.shards, int(snakemake.wildcards.chunk), snakemake.params.spec,
    snakemake.output[0], batch_size=snakemake.params.batch_size, dtype=snakemake.params.dtype,
    image_transform=snakemake.params.variant,
)
log.info("embedded %s", stats)
