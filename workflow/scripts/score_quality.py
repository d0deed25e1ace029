"""The filter-quality report: AUC of every score against the tiny world's ground truth (rules/reports.smk)."""

from pathlib import Path

from clipcurate.report import quality
from clipcurate.core.fileio import atomic_path
from clipcurate.core.runlog import start

log = start(snakemake)
score_files = {s: f"results/scores/{s}.parquet" for s in snakemake.params.scores}
missing = [p for p in score_files.values() if p not in list(snakemake.input.scores)]
if missing:
    raise ValueError(f"score files not among the rule's inputs: {missing}")
subsets = {r: (score, f"results/subsets/{r}.parquet") for r, score in snakemake.params.recipes.items()}
rows, results = quality.build_report(
    score_files, subsets, Path(snakemake.input.world) / "truth.parquet", snakemake.input.index,
    snakemake.params.expectations, methods=snakemake.params.methods,
)
quality.plot_heatmap(rows, snakemake.output.png)
for path, text in ((snakemake.output.notes, quality.notes_text(results)), (snakemake.output.csv, quality.to_csv(rows))):
    with atomic_path(path) as tmp:
        tmp.write_text(text)
for x in results:
    log.info("%s: %s (%s)", x["claim"], x["status"], x["detail"])
