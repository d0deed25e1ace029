"""Reshard a subset into training shards (rules/train.smk)."""

from clipcurate.pool.reshard import extra_shards, reshard
from clipcurate.core.runlog import start

log = start(snakemake)
meta = reshard(
    snakemake.input.subset, snakemake.input.index, snakemake.input.shards, snakemake.output[0],
    shard_size=snakemake.params.shard_size, shuffle_buffer=snakemake.params.shuffle_buffer, seed=snakemake.params.seed,
    extra_shards=extra_shards(snakemake.params.extra),
)
log.info("resharded: %s", meta)
