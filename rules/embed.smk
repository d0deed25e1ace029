# Image and text embeddings of the pool, per model and chunk of contiguous shards.


rule embed:
    input:
        index=POOL_INDEX,
        shards=POOL_SHARDS,
        model=lambda w: model_files(w.model),
    output:
        "results/embeddings/{model}/{chunk}.parquet",
    params:
        spec=lambda w: model_spec(w.model),
        batch_size=config["embed"]["batch_size"],
        dtype=config["embed"]["dtype"],
        code=code_version("embed"),
    log:
        "logs/embed/{model}/{chunk}.log",
    benchmark:
        "results/benchmarks/embed/{model}/{chunk}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=16000, runtime=12 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/embed.py"
