# Pool: metadata -> img2dataset shards (+ download report) -> the pool index (canonical row order).


rule pool_metadata:
    """Copy the world's metadata into the pool's metadata directory (DataComp's layout)."""
    input:
        WORLD_DIR,
    output:
        directory("results/pool/metadata"),
    log:
        "logs/pool_metadata/pool_metadata.log",
    benchmark:
        "results/benchmarks/pool_metadata/pool_metadata.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/pool_metadata.py"


rule download:
    """img2dataset over every URL; on the world, served from 127.0.0.1 for the rule's duration."""
    input:
        metadata=metadata_dir(),
        world=WORLD_DIR if config["pool"]["source"] == "world" else [],
    output:
        shards=directory(POOL_SHARDS),
        report=report(
            "results/pool/download_report.json",
            caption="../report/download_report.rst",
            category=REPORT_CAT["pool"],
            subcategory="download",
            labels={"item": "download report (JSON)"},
        ),
    params:
        download={**config["download"], "samples_per_shard": SCALE["samples_per_shard"]},
        serve_port=config["world"]["serve_port"] if config["pool"]["source"] == "world" else None,
    log:
        "logs/download/download.log",
    benchmark:
        "results/benchmarks/download/download.tsv"
    threads: config["download"]["processes"]
    resources:
        mem_mb=8000,
        runtime=60 * 24,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/download.py"


rule pool_index:
    input:
        shards=POOL_SHARDS,
    output:
        POOL_INDEX,
    params:
        chunk_shards=SCALE["chunk_shards"],
    log:
        "logs/pool_index/pool_index.log",
    benchmark:
        "results/benchmarks/pool_index/pool_index.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/pool_index.py"
