"""Per-task zero-shot results of one recipe's model: an HTML table and a bar chart (rules/tables.smk)."""

from clipcurate.core import fileio
from clipcurate.evaluate.results import aggregate, load_suite, read_jsonl
from clipcurate.report.plots import eval_chart
from clipcurate.report.html import table_html
from clipcurate.core.runlog import start
from clipcurate.report.tables import fold_se, to_csv
from clipcurate.report.uncertainty import aggregate_se, per_task_se

log = start(snakemake)
suite = load_suite(snakemake.params.suite)
lines = read_jsonl(snakemake.input.eval)
groups = {t["key"]: t.get("group", "") for t in suite["tasks"]}
agg = aggregate(lines, suite, source=str(snakemake.input.eval))
se = per_task_se(lines, suite)
header = ["task", "group", "dataset", "main metric", "main metric_se"]
body = [[l["key"], groups.get(l["key"], ""), l.get("dataset", ""), l["metrics"].get("main_metric"), se.get(l["key"])]
        for l in lines]
agg_se = aggregate_se(lines, suite)
recipe = snakemake.wildcards.recipe
csv_text = to_csv(header, body)
notes = [f"recipe {recipe}: {snakemake.params.describe}",
         "aggregates: " + ", ".join(f"{k} {v:.4f}" + (f" ± {agg_se[k]:.4f}" if agg_se[k] == agg_se[k] else "")
                                    for k, v in agg.items() if isinstance(v, float))]
with fileio.atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(table_html(*fold_se(header, body), f"Evaluation of {recipe}", notes, csv_text, f"{recipe}.eval.csv", "eval"))
eval_chart(body, agg, snakemake.output.png, title=f"zero-shot results, recipe {recipe}")
log.info("evaluation report of %s: %d tasks", recipe, len(body))
