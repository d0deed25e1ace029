"""Build the pool index from the downloaded shards (rules/pool.smk)."""

from clipcurate.pool.download import build_index, write_index
from clipcurate.core.runlog import start

log = start(snakemake)
table = build_index(snakemake.input.shards, snakemake.params.chunk_shards)
write_index(table, snakemake.output[0])
log.info("index: %d samples in %d shards", table.num_rows, len(set(table.column("shard").to_pylist())))
