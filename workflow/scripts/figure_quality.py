"""Filter quality on the tiny world: each row's subset by ground-truth kind (rules/tables.smk)."""

from collections import Counter

import pyarrow.parquet as pq

from clipcurate.core import poolindex, scorefiles
from clipcurate.report.plots import composition_chart
from clipcurate.core.runlog import start

log = start(snakemake)
truth = pq.read_table(f"{snakemake.input.world}/truth.parquet", columns=["uid", "kind"])
kind_of = dict(zip(truth.column("uid").to_pylist(), truth.column("kind").to_pylist()))
pool = Counter(kind_of[u] for u in poolindex.read_index(snakemake.input.index, columns=["uid"]).column("uid").to_pylist())
rows = [("pool (downloaded)", dict(pool))]
for row, path in zip(snakemake.params.rows, snakemake.input.subsets):
    sub = scorefiles.read_subset(path)
    c = Counter()
    for uid, n in zip(sub.column("uid").to_pylist(), sub.column("count").to_pylist()):
        c[kind_of[uid]] += int(n)
    rows.append((row["label"], dict(c)))
composition_chart(rows, snakemake.output.png, title=f"{snakemake.wildcards.table}: subsets by ground-truth kind")
log.info("composition: %s", rows)
