"""Perceptual hashes of one chunk's images (rules/dedup.smk)."""

from clipcurate.dedup_inputs import phash_chunk
from clipcurate.runlog import start

log = start(snakemake)
stats = phash_chunk(snakemake.input.index, snakemake.input.shards, int(snakemake.wildcards.chunk),
                    snakemake.output[0], hash_size=snakemake.params.hash_size)
log.info("phash %s", stats)
