# One score file per configured score: uid + float32 columns, row-aligned with the pool index.
# Chunk-level methods run per chunk and are gathered; pool-level methods run once.


def score_cfg(name):
    return lookup("scores", name)


def score_method(name):
    from clipcurate.scores import get

    return get(score_cfg(name)["method"])


def score_inputs(wildcards):
    m = score_method(wildcards.score)
    inputs = {"index": POOL_INDEX}
    if m.level == "chunk":
        inputs["chunks"] = expand("results/scores/{score}/chunks/{chunk}.parquet", score=wildcards.score, chunk=CHUNKS)
    if "truth" in m.inputs:
        inputs["world"] = WORLD_DIR
    return inputs


rule score_chunk:
    input:
        embeddings=lambda w: f"results/embeddings/{score_cfg(w.score)['model']}/{w.chunk}.parquet",
    output:
        temp("results/scores/{score}/chunks/{chunk}.parquet"),
    params:
        method=lambda w: score_cfg(w.score)["method"],
        params=lambda w: score_cfg(w.score).get("params", {}),
        code=code_version("scores.runner"),
    log:
        "logs/score_chunk/{score}/{chunk}.log",
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
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
    log:
        "logs/score/{score}.log",
    threads: 1
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score.py"
