"""Generate the tiny world (rules/world.smk)."""

from clipcurate.core.runlog import start
from clipcurate.world import generate_world, summary_line, verify_world

log = start(snakemake)
manifest = generate_world(
    snakemake.output[0], snakemake.params.cfg, base_url=snakemake.params.base_url,
    seed=snakemake.params.seed, threads=snakemake.threads,
)
verify_world(snakemake.output[0])
log.info("world written: %s", summary_line(manifest))
