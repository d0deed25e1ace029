"""Download the pool with img2dataset (rules/pool.smk).

img2dataset starts worker processes with the spawn method, which re-imports this script; the guard
keeps the workers from running the download again.
"""

import json

from clipcurate.core.fileio import write_json
from clipcurate.pool.download import download_pool
from clipcurate.core.runlog import start


def main(smk):
    log = start(smk)
    world = smk.input.world
    report = download_pool(
        smk.input.metadata, smk.output.shards, smk.params.download,
        serve_root=world if world else None, serve_port=smk.params.serve_port,
    )
    write_json(report, smk.output.report)
    log.info("download: %d of %d succeeded; failures by kind: %s", report["success"], report["total"],
             json.dumps(report["failures_by_kind"]))


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
