"""Train the tiny world's part-of-speech tagger (rules/models.smk, trainer ``tagger``): NLTK's
averaged perceptron on the world's reference-set captions, tagged from the world's vocabulary."""

from pathlib import Path

from clipcurate.core.fileio import write_json
from clipcurate.core.runlog import start
from clipcurate.train.tagger_training import train_world_tagger, world_captions

log = start(snakemake)
cfg = snakemake.params.cfg
captions = world_captions(snakemake.input.world, cfg["dataset"])
log.info("captions of %s: %d", cfg["dataset"], len(captions))
info = train_world_tagger(captions, cfg, int(snakemake.params.seed), Path(snakemake.output.weights).parent)
write_json(info, Path(snakemake.output.info))
log.info("trained: %s", info)
