"""Decide every claim over the claims runs (rule claims): results/reports/claims.csv and .md."""

from clipcurate.core.runlog import start
from clipcurate.report.claims_runs import write_claims

log = start(snakemake)
rows = write_claims(snakemake.params.claims, snakemake.params.runs, snakemake.params.z,
                    snakemake.output.csv, snakemake.output.md)
for r in rows:
    log.info("%s: %s (%d of %d runs support, %d reverse): %s", r["claim"], r["verdict"], r["supporting"], r["runs"],
             r["reversed"], r["differences"])
