"""Train an auxiliary CLIP on one of the world's reference sets (rules/models.smk)."""

import json
from pathlib import Path

from clipcurate.runlog import start
from clipcurate.train import brace_pattern, run_training

log = start(snakemake)
train = snakemake.params.train
data_dir = Path(snakemake.input[0]) / "reference" / train["dataset"]
shards = sorted(data_dir.glob("*.tar"))
size = json.loads((data_dir / "meta.json").read_text())["num_samples"]
scale = {**snakemake.params.scale, **{k: v for k, v in train.items() if k != "dataset"}}
info = run_training(
    brace_pattern(shards), size, snakemake.params.spec, scale,
    out_dir=Path(snakemake.output.weights).parent, seed=snakemake.params.seed,
    threads=snakemake.threads, log_file=snakemake.log[0],
)
log.info("trained %s in %.0f s", snakemake.wildcards.model, info["wall_seconds"])
