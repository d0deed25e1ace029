# The dedup stage: what its score methods (config/scores/dedup.yaml; clipcurate.scores.methods.exact_dup,
# near_dup, phash_dup, semdedup, decontam) read besides the score rules' inputs. exact_dup,
# near_dup and semdedup need nothing more (the download's sha256 column, the pool's embeddings);
# phash_dup reads perceptual hashes of the pool's images, decontam the evaluation sets' test images
# embedded by the score's model. Each method writes a `keep` column any recipe can sample from.


rule dedup_phash_chunk:
    """imagehash.phash of every image of one chunk, read from its shards (clipcurate.pool.dedup_inputs)."""
    input:
        index=POOL_INDEX,
        shards=POOL_SHARDS,
    output:
        temp("results/dedup/phash/{chunk}.parquet"),
    params:
        hash_size=8,
        code=code_version("dedup_phash_chunk"),
    log:
        "logs/dedup_phash_chunk/{chunk}.log",
    benchmark:
        "results/benchmarks/dedup_phash_chunk/{chunk}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=4000, runtime=6 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/dedup_phash_chunk.py"


rule dedup_phash:
    """The chunks' perceptual hashes as one file, row-aligned with the pool index (phash_dup's input)."""
    input:
        index=POOL_INDEX,
        chunks=expand("results/dedup/phash/{chunk}.parquet", chunk=CHUNKS),
    output:
        "results/dedup/phash.parquet",
    params:
        code=code_version("dedup_phash"),
    log:
        "logs/dedup_phash/phash.log",
    benchmark:
        "results/benchmarks/dedup_phash/phash.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=8000, runtime=60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/dedup_phash.py"


rule dedup_eval_images:
    """The evaluation suite's test images embedded by one model (decontam's input)."""
    input:
        data=eval_input(),
        model=lambda w: model_files(w.model),
    output:
        "results/dedup/eval_images/{model}.parquet",
    params:
        suite=suite_content(),
        root=eval_root(),
        spec=lambda w: model_spec(w.model),
        batch_size=config["embed"]["batch_size"],
        dtype=config["embed"]["dtype"],
        code=code_version("dedup_eval_images"),
    log:
        "logs/dedup_eval_images/{model}.log",
    benchmark:
        "results/benchmarks/dedup_eval_images/{model}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=16000, runtime=4 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/dedup_eval_images.py"
