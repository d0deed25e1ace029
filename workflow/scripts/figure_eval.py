"""Per-task zero-shot results of one recipe's model: an HTML table and a bar chart (rules/tables.smk)."""

from clipcurate import io
from clipcurate.eval_results import aggregate, load_suite, read_jsonl
from clipcurate.plots import eval_chart
from clipcurate.report_html import table_html
from clipcurate.runlog import start
from clipcurate.tables import to_csv

log = start(snakemake)
suite = load_suite(snakemake.params.suite)
lines = read_jsonl(snakemake.input.eval)
groups = {t["key"]: t.get("group", "") for t in suite["tasks"]}
header = ["task", "group", "dataset", "main metric"]
body = [[l["key"], groups.get(l["key"], ""), l.get("dataset", ""), l["metrics"].get("main_metric")] for l in lines]
agg = aggregate(lines, suite, source=str(snakemake.input.eval))
recipe = snakemake.wildcards.recipe
csv_text = to_csv(header, body)
notes = [f"recipe {recipe}: {snakemake.params.describe}",
         "aggregates: " + ", ".join(f"{k} {v:.4f}" for k, v in agg.items() if isinstance(v, float))]
with io.atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(table_html(header, body, f"Evaluation of {recipe}", notes, csv_text, f"{recipe}.eval.csv", "eval"))
eval_chart(body, agg, snakemake.output.png, title=f"zero-shot results, recipe {recipe}")
log.info("evaluation report of %s: %d tasks", recipe, len(body))
