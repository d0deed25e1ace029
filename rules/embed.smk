# Image and text embeddings of the pool, per model and chunk of contiguous shards; image variants
# (clipcurate.embed.variants, one module each: flipped, text-masked ...) of the same chunks, images only
# (their scores reuse the plain text vectors); and whole reference sets (downstream, HQ, ...) per model.
# Score methods ask for them through their declared inputs (clipcurate.scores.inputs). A model with
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
        variant=variant_plan("plain"),
        code=variant_code("plain"),
    log:
        "logs/embed/{model}/{chunk}.log",
    benchmark:
        "results/benchmarks/embed/{model}/{chunk}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **embed_resources(mem_mb=16000, runtime=12 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/embed.py"


rule embed_variant:
    """The pool's images transformed by an image variant (e.g. hflip); image vectors only."""
    input:
        unpack(variant_inputs),
    output:
        "results/embeddings/{model}/{variant}/{chunk}.parquet",
    wildcard_constraints:
        variant=variant_names(),
    params:
        spec=lambda w: model_spec(w.model),
        batch_size=config["embed"]["batch_size"],
        dtype=config["embed"]["dtype"],
        variant=lambda w: variant_plan(w.variant),
        code=lambda w: variant_code(w.variant),
    log:
        "logs/embed/{model}/{variant}/{chunk}.log",
    benchmark:
        "results/benchmarks/embed/{model}/{variant}/{chunk}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=16000, runtime=12 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/embed.py"


rule embed_reference:
    """A whole reference set (its webdataset shards) by one model, with cls labels when present."""
    input:
        data=reference_set_input,
        model=lambda w: model_files(w.model),
    output:
        "results/reference_embeddings/{model}/{set}.parquet",
    wildcard_constraints:
        set=r"[A-Za-z0-9_.\-]+",
    params:
        set_dir=reference_set_dir,
        spec=lambda w: model_spec(w.model),
        batch_size=config["embed"]["batch_size"],
        dtype=config["embed"]["dtype"],
        code=code_version("embed_reference"),
    log:
        "logs/embed_reference/{model}/{set}.log",
    benchmark:
        "results/benchmarks/embed_reference/{model}/{set}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=16000, runtime=12 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/embed_reference.py"
