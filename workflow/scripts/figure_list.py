"""The list of a table's figures (rules/tables.smk: table_figures); the figures are the rule's inputs."""

from clipcurate.report.figure_list import write_figure_list
from clipcurate.core.runlog import start

log = start(snakemake)
groups = {name.removeprefix("fig_"): getattr(snakemake.input, name) for name in snakemake.input.keys() if name.startswith("fig_")}
n = write_figure_list(groups, snakemake.output.txt)
log.info("%d figures of table %s listed in %s", n, snakemake.wildcards.table, snakemake.output.txt)
