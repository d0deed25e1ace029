# One score file per configured score: uid + float32 columns, row-aligned with the pool index.
# Chunk-level methods run per chunk and are gathered; pool-level methods run once.


rule score_chunk:
    input:
        unpack(score_chunk_inputs),
    output:
        temp("results/scores/{score}/chunks/{chunk}.parquet"),
    params:
        method=lambda w: score_cfg(w.score)["method"],
        params=lambda w: score_cfg(w.score).get("params", {}),
        code=code_version("score_chunk"),
    log:
        "logs/score_chunk/{score}/{chunk}.log",
    benchmark:
        "results/benchmarks/score_chunk/{score}/{chunk}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=8000, runtime=60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score_chunk.py"


rule score:
    input:
        unpack(score_inputs),
    output:
        "results/scores/{score}.parquet",
    params:
        method=lambda w: score_cfg(w.score)["method"],
        params=lambda w: score_cfg(w.score).get("params", {}),
        code=code_version("score"),
    log:
        "logs/score/{score}.log",
    benchmark:
        "results/benchmarks/score/{score}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=16000, runtime=60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score.py"
