"""Aggregate score files into one mix (rules/mix.smk); a declared mix (M-FLYT) applies its artifacts."""

from clipcurate.core import poolindex
from clipcurate.evaluate.results import load_suite, resolve_recipe_accuracies
from clipcurate.mix.declared import resolve_declared
from clipcurate.mix.files import mix_files
from clipcurate.core.runlog import start

log = start(snakemake)
plan = snakemake.params.plan
params = dict(plan["params"])
if plan["recipes"]:  # in_accuracy given as recipe:<name>: that recipe's ImageNet accuracy
    evals = dict(zip(plan["recipes"], snakemake.input.evals))
    params["in_accuracy"] = resolve_recipe_accuracies(
        params["in_accuracy"], evals, load_suite(snakemake.params.suite), f"mixes.{snakemake.wildcards.mix}.params.in_accuracy")
    log.info("in_accuracy: %s", params["in_accuracy"])
artifacts = {k: snakemake.input[k] for k in plan["artifacts"]}
method, params = resolve_declared(plan["method"], params, plan["inputs"], artifacts)
mix_files(plan["specs"], snakemake.input.index, method, params, snakemake.output[0], poolindex.index_fingerprint(snakemake.input.index))
log.info("mix %s written (%s)", snakemake.wildcards.mix, method)
