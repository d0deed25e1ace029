"""Assemble a paper table from evaluation results and subsets (rules/tables.smk).

``params.table`` holds only the rows that are built; ``params.dropped`` lists the rows left out
(at real scale: recipes that use an oracle score), which the .md and the log name.
"""

from clipcurate import io
from clipcurate.evaluate import load_suite
from clipcurate.runlog import start
from clipcurate.tables import build_table, dropped_note, row_values, to_csv, to_markdown

log = start(snakemake)
table = snakemake.params.table
suite = load_suite(snakemake.params.suite)
values = {}
for row, ev, sub in zip(table["rows"], snakemake.input.evals, snakemake.input.subsets):
    values[row["recipe"]] = row_values(row["recipe"], ev, sub, suite, table["columns"])
header, body = build_table(table, values, snakemake.params.show_reported)
note = dropped_note(snakemake.params.dropped)
with io.atomic_path(snakemake.output.csv) as tmp:
    tmp.write_text(to_csv(header, body))
with io.atomic_path(snakemake.output.md) as tmp:
    tmp.write_text(to_markdown(header, body, table.get("title"), note))
if note:
    log.warning("%s", note)
log.info("\n%s", to_markdown(header, body, table.get("title"), note))
