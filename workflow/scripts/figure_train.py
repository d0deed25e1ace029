"""CLIP training curve from open_clip_train's log (rules/tables.smk): recipes and reference models."""

import json
from pathlib import Path

from clipcurate.report.plots import clip_loss_curve
from clipcurate.core.runlog import start

log = start(snakemake)
info = json.loads(Path(snakemake.input.info).read_text())
# open_clip_train writes its out.log under the exported model's directory (clipcurate.train.run)
model_dir = Path(info["model"]["pretrained"]).parent
logs = [model_dir / "open_clip_train" / "logs" / "run" / "out.log"]
title = (f"{snakemake.params.what}: {info.get('samples_seen', '?'):,} samples seen, "
         f"{info.get('dataset_size', '?')} in the training set, {info.get('wall_seconds', '?')} s")
records = clip_loss_curve(logs, snakemake.output.png, title=title)
log.info("%d logged steps from %s", len(records), logs[0])
