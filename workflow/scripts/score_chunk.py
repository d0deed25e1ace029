"""Apply a chunk-level score method to one chunk (rules/score.smk)."""

from clipcurate.core.runlog import start
from clipcurate.scores.runner import run_score

log = start(snakemake)
files = {k: snakemake.input[k] for k in snakemake.input.keys()}
n = run_score(snakemake.params.plan, files, snakemake.output[0], chunk=int(snakemake.wildcards.chunk),
              threads=snakemake.threads)
log.info("scored %d samples", n)
