"""Gather the chunks' perceptual hashes into one index-aligned file (rules/dedup.smk)."""

from clipcurate.pool.dedup_inputs import gather_phash
from clipcurate.core.runlog import start

log = start(snakemake)
n = gather_phash(list(snakemake.input.chunks), snakemake.input.index, snakemake.output[0])
log.info("phash: %d rows", n)
