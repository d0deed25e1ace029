"""Evaluate a trained model on the configured suite (rules/evaluate.smk)."""

from clipcurate.evaluate.run import aggregate, evaluate_model, load_suite
from clipcurate.core.runlog import start

log = start(snakemake)
suite = load_suite(snakemake.params.suite)
spec = {"arch": snakemake.params.arch, "pretrained": snakemake.input.weights}
lines = evaluate_model(spec, suite, snakemake.params.root + "/{dataset}", snakemake.output[0],
                       batch_size=snakemake.params.batch_size, log=log.info)
log.info("aggregates: %s", aggregate(lines, suite))
