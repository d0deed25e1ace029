"""The DFN paper's data-quality figure: each DFN's own ImageNet-analogue accuracy against the accuracy
of the model trained on the subset it induces (rules/reports.smk)."""

import csv

from clipcurate import dfn
from clipcurate.eval_results import imagenet_accuracy, load_suite
from clipcurate.io import atomic_path
from clipcurate.runlog import start

log = start(snakemake)
suite = load_suite(snakemake.params.suite)
points = snakemake.params.points
dfn_acc = {p["model"]: imagenet_accuracy(path, suite) for p, path in zip(points, snakemake.input.dfn_evals)}
subset_acc = {p["recipe"]: imagenet_accuracy(path, suite) for p, path in zip(points, snakemake.input.subset_evals)}
rows = dfn.quality_points(points, dfn_acc, subset_acc)
dfn.plot_quality(rows, snakemake.output.png)
with atomic_path(snakemake.output.csv, suffix=".csv") as tmp:
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
for r in rows:
    log.info("%s", r)
