"""Put the world's metadata where the pool stage reads DataComp metadata (rules/pool.smk)."""

import shutil
from pathlib import Path

from clipcurate.core.runlog import start

log = start(snakemake)
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
shutil.copy(Path(snakemake.input[0]) / "pool" / "metadata.parquet", out / "00000000.parquet")
log.info("metadata copied to %s", out)
