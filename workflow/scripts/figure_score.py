"""Distribution of a score file's columns, per ground-truth kind on the tiny world (rules/tables.smk)."""

import numpy as np
import pyarrow.parquet as pq

from clipcurate.report.plots import score_chart
from clipcurate.core.runlog import start

log = start(snakemake)
table = pq.read_table(snakemake.input.scores)
cols = {c: table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
        for c in table.column_names if c != "uid" and str(table.schema.field(c).type) in ("float", "double", "bool", "int32", "int64")}
kinds = None
if snakemake.input.world:
    truth = pq.read_table(f"{snakemake.input.world}/truth.parquet", columns=["uid", "kind"])
    kind_of = dict(zip(truth.column("uid").to_pylist(), truth.column("kind").to_pylist()))
    kinds = np.array([kind_of.get(u, "unknown") for u in table.column("uid").to_pylist()])
score_chart(cols, snakemake.output.png, kinds, title=f"score {snakemake.wildcards.score}: {snakemake.params.describe}")
log.info("score chart of %s: columns %s, %d samples", snakemake.wildcards.score, list(cols), table.num_rows)
