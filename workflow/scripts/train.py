"""DataComp-style training on a resharded subset (rules/train.smk)."""

import shutil
from pathlib import Path

from clipcurate.pool.reshard import train_data_pattern
from clipcurate.core.runlog import start
from clipcurate.train.run import run_training

log = start(snakemake)
pattern, size = train_data_pattern(snakemake.input.shards)
out_dir = Path(snakemake.output.weights).parent
info = run_training(
    pattern, size, snakemake.params.spec, snakemake.params.scale, out_dir=out_dir,
    seed=snakemake.params.seed, threads=snakemake.threads, log_file=snakemake.log[0],
)
shutil.move(str(out_dir / "train_info.json"), snakemake.output.info)
log.info("trained on %d samples (%d seen) in %.0f s", size, info["samples_seen"], info["wall_seconds"])
