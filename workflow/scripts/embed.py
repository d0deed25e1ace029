"""Embed one chunk of the pool (rules/embed.smk).

A model spec with ``precomputed: b32|l14`` takes DataComp's npz embeddings of the chunk's samples
instead of running the model over the images.
"""

from clipcurate.core.runlog import start

log = start(snakemake)
spec = snakemake.params.spec
if spec.get("precomputed"):
    from clipcurate.pool.precomputed import write_chunk_embeddings

    stats = write_chunk_embeddings(
        snakemake.input.rows, snakemake.input.metadata, int(snakemake.wildcards.chunk), spec["precomputed"],
        snakemake.output[0], dtype=snakemake.params.dtype,
    )
    log.info("took DataComp's precomputed %s embeddings: %s", spec["precomputed"], stats)
else:
    from clipcurate.embed.encode import embed_chunk

    stats = embed_chunk(
        snakemake.input.index, snakemake.input.shards, int(snakemake.wildcards.chunk), spec,
        snakemake.output[0], batch_size=snakemake.params.batch_size, dtype=snakemake.params.dtype,
        variant=snakemake.params.variant,
    )
    log.info("embedded %s", stats)
