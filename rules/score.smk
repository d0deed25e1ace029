# One score file per configured score: uid + float32 `score` and/or boolean `keep`, row-aligned with
# the pool index. Each score's inputs, params and code version derive from its method's declared
# inputs (clipcurate.scores.plan); chunk-level methods run per chunk and are gathered, pool-level
# methods run once. A method declared with report=True (the imports of published scores and
# subsets) also writes results/scores/{score}.report.json (its coverage), through score_reported.

ruleorder: score_reported > score


rule score_chunk:
    input:
        unpack(score_chunk_inputs),
    output:
        temp("results/scores/{score}/chunks/{chunk}.parquet"),
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=score_code,
    log:
        "logs/score_chunk/{score}/{chunk}.log",
    benchmark:
        "results/benchmarks/score_chunk/{score}/{chunk}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
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
        plan=lambda w: score_plan(w.score).to_dict(),
        code=score_code,
    log:
        "logs/score/{score}.log",
    benchmark:
        "results/benchmarks/score/{score}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score.py"


rule score_reported:
    input:
        unpack(score_inputs),
    output:
        score="results/scores/{score}.parquet",
        report="results/scores/{score}.report.json",
    wildcard_constraints:
        score=reported_score_names(),
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=score_code,
    log:
        "logs/score/{score}.log",
    benchmark:
        "results/benchmarks/score/{score}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        mem_mb=16000,
        runtime=60,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score.py"
