"""Aggregate score files into one mix (rules/mix.smk)."""

from clipcurate import io
from clipcurate.mixing import mix_files
from clipcurate.runlog import start

log = start(snakemake)
mix = snakemake.params.mix
specs = []
for inp, path in zip(mix["inputs"], snakemake.input.scores):
    name, _, column = inp.partition(":")
    specs.append((inp, path, column or "score"))
mix_files(specs, snakemake.input.index, mix["method"], mix.get("params", {}), snakemake.output[0],
          io.index_fingerprint(snakemake.input.index))
log.info("mix %s written", snakemake.wildcards.mix)
