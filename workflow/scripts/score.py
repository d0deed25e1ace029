"""Write the pool-wide score file: gather chunks (and group results), or run a pool-level method
(rules/score.smk)."""

from clipcurate.core.runlog import start
from clipcurate.scores.runner import run_score
from clipcurate.scores.stages import run_gather

log = start(snakemake)
plan = snakemake.params.plan
files = {k: snakemake.input[k] for k in snakemake.input.keys()}
if plan["level"] == "chunk":
    n = run_gather(plan, files, snakemake.output[0])
else:
    report = snakemake.output.report if "report" in snakemake.output.keys() else None
    n = run_score(plan, files, snakemake.output[0], report_path=report, threads=snakemake.threads)
log.info("%s: %d rows", snakemake.wildcards.score, n)
