"""Map every pool index row to its metadata file and row, for DataComp's npz embeddings (rules/pool.smk)."""

from clipcurate.pool.precomputed import build_row_map
from clipcurate.core.runlog import start

log = start(snakemake)
stats = build_row_map(snakemake.input.index, snakemake.input.metadata, snakemake.output[0])
log.info("metadata row map: %s", stats)
