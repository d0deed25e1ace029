"""Apply a chunk-level score method to one chunk (rules/score.smk)."""

from clipcurate.runlog import start
from clipcurate.scores.runner import score_chunk

log = start(snakemake)
files = {"head": snakemake.input.head} if "head" in snakemake.input.keys() else {}
n = score_chunk(snakemake.params.method, snakemake.params.params, snakemake.input.embeddings, snakemake.output[0], files)
log.info("scored %d samples", n)
