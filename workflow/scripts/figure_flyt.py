"""FLYT training curves: losses and M-FLYT mixer weights per step (rules/tables.smk)."""

import json
from pathlib import Path

from clipcurate.plots import flyt_curves
from clipcurate.runlog import start

log = start(snakemake)
info = json.loads(Path(snakemake.input.info).read_text())
run = snakemake.params.run
info.setdefault("inputs", run.get("inputs") or [])
kind = "M-FLYT mixer" if run["scorer"] == "mixer" else "E-FLYT head"
flyt_curves(info, snakemake.output.png, title=f"FLYT run {snakemake.wildcards.flyt} ({kind}), {len(info.get('history') or [])} steps")
log.info("FLYT curves of %s", snakemake.wildcards.flyt)
