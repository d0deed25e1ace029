"""Download outcome and pool composition chart (rules/tables.smk, report category 'pool')."""

import json

import pyarrow.parquet as pq

from clipcurate.core import poolindex
from clipcurate.report.plots import download_chart
from clipcurate.core.runlog import start

log = start(snakemake)
report = json.loads(open(snakemake.input.report).read())
composition = None
if snakemake.input.world:  # the tiny world: samples per kind in the metadata and in the pool index
    truth = pq.read_table(f"{snakemake.input.world}/truth.parquet", columns=["uid", "kind"])
    indexed = set(poolindex.read_index(snakemake.input.index, columns=["uid"]).column("uid").to_pylist())
    composition = {}
    for uid, kind in zip(truth.column("uid").to_pylist(), truth.column("kind").to_pylist()):
        meta, got = composition.get(kind, (0, 0))
        composition[kind] = (meta + 1, got + (uid in indexed))
    composition = dict(sorted(composition.items(), key=lambda kv: -kv[1][0]))
download_chart(report, snakemake.output.png, composition)
log.info("download chart: %s", {k: v for k, v in report.items() if k in ("total", "success", "failures_by_kind")})
