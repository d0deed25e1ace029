# Pool: metadata -> img2dataset shards (+ download report) -> the pool index (canonical row order).
# At real scale (pool.source: datacomp) the metadata is DataComp's, nothing of the tiny world is
# planned, and shards a user already has (pool.shards_dir) replace the download.


if not REAL_SCALE:

    rule pool_metadata:
        """Copy the world's metadata into the pool's metadata directory (DataComp's layout)."""
        input:
            WORLD_DIR,
        output:
            directory("results/pool/metadata"),
        params:
            code=code_version("pool_metadata"),
        log:
            "logs/pool_metadata/pool_metadata.log",
        benchmark:
            "results/benchmarks/pool_metadata/pool_metadata.tsv"
        threads: 1
        resources:
            **cpu_resources(mem_mb=1000, runtime=5),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/pool_metadata.py"


if not config["pool"].get("shards_dir"):

    rule download:
        """img2dataset over every URL, each image checked against the metadata's sha256; an
        interrupted download resumes (finished shards are kept). On the world the images are
        served from 127.0.0.1 for the rule's duration."""
        input:
            metadata=metadata_dir(),
            world=[] if REAL_SCALE else WORLD_DIR,
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
            # what changes the shards; runtime and attempts are the Slurm job's, not the data's
            download={
                **{k: v for k, v in config["download"].items() if k not in ("runtime", "attempts")},
                "samples_per_shard": SCALE["samples_per_shard"],
            },
            serve_port=None if REAL_SCALE else config["world"]["serve_port"],
            code=code_version("download"),
        log:
            "logs/download/download.log",
        benchmark:
            "results/benchmarks/download/download.tsv"
        threads: config["download"]["processes"]
        # a job cut at its time limit (or preempted) is retried and resumes where it stopped
        retries: config["download"].get("attempts", 1) - 1
        resources:
            **cpu_resources(mem_mb=8000, runtime=config["download"].get("runtime", 60)),
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
        code=code_version("pool_index"),
    log:
        "logs/pool_index/pool_index.log",
    benchmark:
        "results/benchmarks/pool_index/pool_index.tsv"
    threads: 1
    resources:
        **cpu_resources(mem_mb=16000, runtime=60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/pool_index.py"


rule metadata_rows:
    """Map each index row to its metadata file and row, for models with DataComp's precomputed
    npz embeddings (one sorted uid join over the pool)."""
    input:
        index=POOL_INDEX,
        metadata=metadata_dir() if config["pool"].get("metadata_dir") or not REAL_SCALE else [],
    output:
        METADATA_ROWS,
    params:
        code=code_version("metadata_rows"),
    log:
        "logs/metadata_rows/metadata_rows.log",
    benchmark:
        "results/benchmarks/metadata_rows/metadata_rows.tsv"
    threads: 1
    resources:
        **cpu_resources(mem_mb=32000, runtime=120),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/metadata_rows.py"
