"""FLYT training curves: losses and M-FLYT mixer weights per step (rules/tables.smk)."""

import json
from pathlib import Path

from clipcurate.report.plots import flyt_curves
from clipcurate.core.runlog import start

log = start(snakemake)
info = json.loads(Path(snakemake.input.info).read_text())
run = snakemake.params.run
info.setdefault("inputs", run.get("inputs") or [])
kind = snakemake.params.label  # the trainer's label (clipcurate.train.trainers): M-FLYT run, E-FLYT run
flyt_curves(info, snakemake.output.png, title=f"{kind} {snakemake.wildcards.flyt}, {len(info.get('history') or [])} steps")
log.info("FLYT curves of %s", snakemake.wildcards.flyt)
