"""Perceptual hashes of one chunk's images (rules/dedup.smk)."""

from clipcurate.pool.dedup_inputs import phash_chunk
from clipcurate.core.runlog import start

log = start(snakemake)
stats = phash_chunk(snakemake.input.index, snakemake.input.shards, int(snakemake.wildcards.chunk),
                    snakemake.output[0], hash_size=snakemake.params.hash_size)
log.info("phash %s", stats)
