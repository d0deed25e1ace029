"""Apply a chunk-level score method to one chunk (rules/score.smk)."""

from clipcurate.runlog import start
from clipcurate.scores.runner import score_chunk

log = start(snakemake)
n = score_chunk(snakemake.params.method, snakemake.params.params, snakemake.input.embeddings, snakemake.output[0])
log.info("scored %d samples", n)
