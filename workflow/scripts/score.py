"""Write the pool-wide score file: gather chunks, or run a pool-level method (rules/score.smk)."""

from pathlib import Path

import pyarrow.parquet as pq

from clipcurate.runlog import start
from clipcurate.scores import get
from clipcurate.scores.runner import gather, score_pool

log = start(snakemake)
method = get(snakemake.params.method)
if method.level == "chunk":
    n = gather(snakemake.input.chunks, snakemake.input.index, snakemake.output[0])
else:
    loaded = {}
    if "truth" in method.inputs:
        loaded["truth"] = pq.read_table(Path(snakemake.input.world) / "truth.parquet")
    n = score_pool(snakemake.params.method, snakemake.params.params, snakemake.input.index, snakemake.output[0], loaded)
log.info("%s: %d rows", snakemake.wildcards.score, n)
