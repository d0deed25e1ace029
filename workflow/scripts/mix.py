"""Aggregate score files into one mix (rules/mix.smk).

An M-FLYT mix applies its trained mixer: the standardized sum of its inputs weighted by the
learned ``a`` (the bias shifts every score equally, which no sampler sees).
"""

from clipcurate import io
from clipcurate.evaluate import load_suite, resolve_recipe_accuracies
from clipcurate.flyt.run import read_mixer
from clipcurate.mixing import mix_files
from clipcurate.runlog import start

log = start(snakemake)
mix = snakemake.params.mix
specs = []
for inp, path in zip(mix["inputs"], snakemake.input.scores):
    name, _, column = inp.partition(":")
    specs.append((inp, path, column or "score"))
method, params = mix["method"], dict(mix.get("params", {}))
if snakemake.params.recipes:  # in_accuracy given as recipe:<name>: that recipe's ImageNet accuracy
    evals = dict(zip(snakemake.params.recipes, snakemake.input.evals))
    params["in_accuracy"] = resolve_recipe_accuracies(
        params["in_accuracy"], evals, load_suite(snakemake.params.suite), f"mixes.{snakemake.wildcards.mix}.params.in_accuracy")
    log.info("in_accuracy: %s", params["in_accuracy"])
if method == "mflyt":
    mixer = read_mixer(snakemake.input.mixer)
    if mixer["inputs"] != list(mix["inputs"]):
        raise io.ContractError(f"{snakemake.input.mixer}: mixer inputs {mixer['inputs']} differ from the run's {mix['inputs']}")
    method, params = "weighted_sum", {"weights": dict(zip(mixer["inputs"], mixer["weights"])), "standardize": True}
mix_files(specs, snakemake.input.index, method, params, snakemake.output[0], io.index_fingerprint(snakemake.input.index))
log.info("mix %s written", snakemake.wildcards.mix)
