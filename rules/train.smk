# Reshard a subset (repeats honoured, shuffle buffer) and train with DataComp's fixed recipe.


rule reshard:
    input:
        subset="results/subsets/{recipe}.parquet",
        index=POOL_INDEX,
        shards=POOL_SHARDS,
        extra=lambda w: extra_reference_inputs(lookup("recipes", w.recipe)),
    output:
        temp(directory("results/train/{recipe}/shards")),
    params:
        extra=lambda w: extra_reference_dirs(lookup("recipes", w.recipe)),
        shard_size=SCALE["reshard_shard_size"],
        shuffle_buffer=SCALE["shuffle_buffer"],
        seed=SEED,
        code=code_version("reshard"),
    log:
        "logs/reshard/{recipe}.log",
    benchmark:
        "results/benchmarks/reshard/{recipe}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=16000, runtime=12 * 60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/reshard.py"


rule train:
    input:
        shards="results/train/{recipe}/shards",
    output:
        weights="results/train/{recipe}/model/open_clip_pytorch_model.bin",
        info="results/train/{recipe}/train_info.json",
    params:
        spec={"arch": SCALE["model"], "pretrained": None},
        scale=lambda w: recipe_scale(lookup("recipes", w.recipe)),
        seed=SEED,
        code=code_version("train"),
    log:
        "logs/train/{recipe}.log",
    benchmark:
        "results/benchmarks/train/{recipe}.tsv"
    threads: JOB_THREADS
    priority: TRAIN_PRIORITY
    resources:
        **gpu_resources(mem_mb=64000, runtime=48 * 60, gpus=SCALE.get("gpus", 1)),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train.py"
