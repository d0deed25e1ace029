"""Train an auxiliary CLIP on reference sets (the world's or the user's) (rules/models.smk): the OpenAI-CLIP
analogue, a DFN (HQ set, optionally partly replaced by pool data, subsampled or enlarged with pool
data) or a fine-tuned DFN."""

import shutil
from pathlib import Path

from clipcurate.train.dfn import DATA_KEYS, train_data
from clipcurate.core.fileio import write_json
from clipcurate.core.runlog import start
from clipcurate.train.run import brace_pattern, run_training

log = start(snakemake)
train = snakemake.params.train
out_dir = Path(snakemake.output.weights).parent
work = out_dir / "train_data"
shards, size, data = train_data(
    train, snakemake.params.sets, work,
    pool_index=snakemake.input.get("index"), pool_shards=snakemake.input.get("shards"),
    seed=snakemake.params.seed,
)
log.info("training data: %s", data)
scale = {**snakemake.params.scale, **{k: v for k, v in train.items() if k not in DATA_KEYS}}
info = run_training(
    brace_pattern(shards), size, snakemake.params.spec, scale,
    out_dir=out_dir, seed=snakemake.params.seed,
    threads=snakemake.threads, log_file=snakemake.log[0],
)
shutil.rmtree(work, ignore_errors=True)
write_json({**info, "data": data}, Path(snakemake.output.info))
log.info("trained %s in %.0f s", snakemake.wildcards.model, info["wall_seconds"])
