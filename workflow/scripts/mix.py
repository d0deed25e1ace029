"""Aggregate score files into one mix (rules/mix.smk); an M-FLYT mix applies its trained mixer."""

from clipcurate import io
from clipcurate.evaluate import load_suite, resolve_recipe_accuracies
from clipcurate.flyt.run import mixer_mix
from clipcurate.mixing import mix_files
from clipcurate.runlog import start

log = start(snakemake)
mix = snakemake.params.mix
specs = snakemake.params.specs  # (input name, score file, column), as the rule's inputs
method, params = mix["method"], dict(mix.get("params", {}))
if snakemake.params.recipes:  # in_accuracy given as recipe:<name>: that recipe's ImageNet accuracy
    evals = dict(zip(snakemake.params.recipes, snakemake.input.evals))
    params["in_accuracy"] = resolve_recipe_accuracies(
        params["in_accuracy"], evals, load_suite(snakemake.params.suite), f"mixes.{snakemake.wildcards.mix}.params.in_accuracy")
    log.info("in_accuracy: %s", params["in_accuracy"])
if method == "mflyt":
    method, params = mixer_mix(snakemake.input.mixer, mix["inputs"])
mix_files(specs, snakemake.input.index, method, params, snakemake.output[0], io.index_fingerprint(snakemake.input.index))
log.info("mix %s written", snakemake.wildcards.mix)
