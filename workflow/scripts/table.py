"""Assemble a paper table from evaluation results and subsets (rules/tables.smk): CSV, Markdown,
an HTML rendering for the report and a chart (bars, or Figure 3's lines for a ``plot: lines`` table);
each score with its standard error (CSV: ``<column>_se`` columns; .md/HTML: ``value ± se``; chart: error bars).

``params.table`` holds only the rows that are built; ``params.dropped`` lists the rows left out
(at real scale: recipes that use an oracle score), which the .md, the HTML and the log name.
"""

from clipcurate.core import fileio
from clipcurate.evaluate.results import load_suite
from clipcurate.report.plots import table_chart
from clipcurate.report.html import table_html
from clipcurate.core.runlog import start
from clipcurate.report.tables import build_table, dropped_note, fold_se, row_values, to_csv, to_markdown

log = start(snakemake)
table = snakemake.params.table
name = snakemake.wildcards.table
suite = load_suite(snakemake.params.suite)
values = {}
for row, ev, sub in zip(table["rows"], snakemake.input.evals, snakemake.input.subsets):
    values[row["recipe"]] = row_values(row["recipe"], ev, sub, suite, table["columns"], warn=log.warning)
header, body = build_table(table, values, snakemake.params.show_reported)
note = dropped_note(snakemake.params.dropped)
csv_text = to_csv(header, body)
with fileio.atomic_path(snakemake.output.csv) as tmp:
    tmp.write_text(csv_text)
with fileio.atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(to_markdown(header, body, table.get("title"), note))
if note:
    log.warning("%s", note)
notes = [f"{row['label']}: {snakemake.params.recipes[row['recipe']]}" for row in table["rows"]] + ([note] if note else [])
with fileio.atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(table_html(*fold_se(header, body), f"{name}: {table.get('title', '')}", notes, csv_text, f"{name}.csv", name))
# the paper's numbers are drawn only where they are printed too (show_reported: real-scale runs)
shown = table if snakemake.params.show_reported else {k: v for k, v in table.items() if k != "reported"}
table_chart(shown, header, body, snakemake.output.png, snakemake.params.recipe_cfgs, name=name)
log.info("\n%s", to_markdown(header, body, table.get("title"), note))
