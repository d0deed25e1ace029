"""Run one job of a staged score method's prepare, fit or group stage (rules/score.smk)."""

from clipcurate.core.runlog import start
from clipcurate.scores.stages import run_fit, run_group, run_prepare

log = start(snakemake)
plan, rule = snakemake.params.plan, snakemake.rule
files = {k: snakemake.input[k] for k in snakemake.input.keys()}
if rule == "score_prepare":
    n = run_prepare(plan, files, snakemake.output[0], chunk=int(snakemake.wildcards.chunk), threads=snakemake.threads)
    log.info("prepared %d rows of chunk %s", n, snakemake.wildcards.chunk)
elif rule == "score_fit":
    shapes = run_fit(plan, files, snakemake.output[0], threads=snakemake.threads)
    log.info("fitted: %s", shapes)
elif rule == "score_group":
    n = run_group(plan, files, snakemake.output[0], shard=int(snakemake.wildcards.shard), threads=snakemake.threads)
    log.info("grouped %d rows of shard %s", n, snakemake.wildcards.shard)
else:
    raise ValueError(f"score_stage.py: unexpected rule {rule!r}")
