"""The DFN paper's data-quality figure: each DFN's own ImageNet-analogue accuracy against the accuracy
of the model trained on the subset it induces (rules/reports.smk), each with its standard error
(error bars both ways; CSV columns ``*_se``)."""

import csv

from clipcurate.train import dfn
from clipcurate.evaluate.results import imagenet_accuracy, load_suite
from clipcurate.core.fileio import atomic_path
from clipcurate.core.runlog import start
from clipcurate.report.uncertainty import imagenet_se

log = start(snakemake)
suite = load_suite(snakemake.params.suite)
points = snakemake.params.points
pairs = list(zip(points, snakemake.input.dfn_evals, snakemake.input.subset_evals))
dfn_acc = {p["model"]: imagenet_accuracy(d, suite) for p, d, _ in pairs}
subset_acc = {p["recipe"]: imagenet_accuracy(s, suite) for p, _, s in pairs}
dfn_se = {p["model"]: imagenet_se(d, suite) for p, d, _ in pairs}
subset_se = {p["recipe"]: imagenet_se(s, suite) for p, _, s in pairs}
rows = dfn.quality_points(points, dfn_acc, subset_acc, dfn_se, subset_se)
dfn.plot_quality(rows, snakemake.output.png)
with atomic_path(snakemake.output.csv, suffix=".csv") as tmp:
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
for r in rows:
    log.info("%s", r)
