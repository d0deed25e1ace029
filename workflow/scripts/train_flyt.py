"""Train one FLYT scorer, M-FLYT mixer or E-FLYT head (rules/models.smk)."""

from pathlib import Path

from clipcurate.train.flyt.run import train_run
from clipcurate.pool.download import shard_paths
from clipcurate.core.runlog import start

log = start(snakemake)
run = snakemake.params.run
info = train_run(
    run["scorer"], run["train"],
    shards=shard_paths(snakemake.input.shards),
    index_path=snakemake.input.index,
    reference_spec=run["reference_spec"],
    downstream_dir=run["downstream_dir"],
    out_dir=Path(snakemake.output.info).parent,
    seed=snakemake.params.seed,
    score_specs=run["score_specs"],
    embed_spec=run["embed_spec"],
    hidden_mult=run["hidden_mult"],
    standardize=run.get("standardize", True),
)
log.info("FLYT %s: %d steps in %.0f s", snakemake.wildcards.flyt, info["steps_done"], info["seconds"])
