"""Download the pool with img2dataset (rules/pool.smk)."""

import json

from clipcurate.io import write_json
from clipcurate.pool import download_pool
from clipcurate.runlog import start

log = start(snakemake)
world = snakemake.input.world
report = download_pool(
    snakemake.input.metadata, snakemake.output.shards, snakemake.params.download,
    serve_root=world if world else None, serve_port=snakemake.params.serve_port,
)
write_json(report, snakemake.output.report)
log.info("download: %d of %d succeeded; failures by kind: %s", report["success"], report["total"],
         json.dumps(report["failures_by_kind"]))
