# Image and text embeddings of the pool, per model and chunk of contiguous shards. A model with
# `precomputed: b32|l14` takes DataComp's npz embeddings instead (no images, no GPU).


rule embed:
    input:
        unpack(embed_inputs),
    output:
        "results/embeddings/{model}/{chunk}.parquet",
    params:
        spec=embed_spec,
        batch_size=config["embed"]["batch_size"],
        dtype=config["embed"]["dtype"],
        code=lambda w: code_version("precomputed" if precomputed(w.model) else "embed"),
    log:
        "logs/embed/{model}/{chunk}.log",
    benchmark:
        "results/benchmarks/embed/{model}/{chunk}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        mem_mb=16000,
        runtime=12 * 60,
        gpu=embed_gpus,
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/embed.py"
