"""Write the pool-wide score file: gather chunks, or run a pool-level method (rules/score.smk)."""

from clipcurate.runlog import start
from clipcurate.scores.runner import gather, run_score

log = start(snakemake)
plan = snakemake.params.plan
if plan["level"] == "chunk":
    n = gather(snakemake.input.chunks, snakemake.input.index, snakemake.output[0])
else:
    files = {k: snakemake.input[k] for k in snakemake.input.keys()}
    report = snakemake.output.report if "report" in snakemake.output.keys() else None
    n = run_score(plan, files, snakemake.output[0], report_path=report)
log.info("%s: %d rows", snakemake.wildcards.score, n)
