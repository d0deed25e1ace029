# One score file per configured score: uid + float32 `score` and/or boolean `keep`, row-aligned with
# the pool index. Each score's inputs, params and code version derive from its method's declared
# inputs (clipcurate.scores.plan); chunk-level methods run per chunk and are gathered, pool-level
# methods run once. A staged method (clipcurate.scores.stages: fit on the pool's chunks, apply per
# chunk, group per cluster shard) adds its prepare, fit and group jobs. Every job's threads and
# resources come from its method's declared resources per stage, overridden by
# scores.<name>.resources.<stage> (e.g. in a scale file). A method declared with report=True (the
# imports of published scores and subsets) also writes results/scores/{score}.report.json (its
# coverage), through score_reported.

ruleorder: score_reported > score


rule score_prepare:
    input:
        unpack(score_stage_inputs("prepare")),
    output:
        temp("results/scores/{score}/prepare/{chunk}.npz"),
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=lambda w: score_code(w, "score_stage"),
    log:
        "logs/score_prepare/{score}/{chunk}.log",
    benchmark:
        "results/benchmarks/score_prepare/{score}/{chunk}.tsv"
    threads: score_threads("prepare")
    priority: SELECTION_PRIORITY
    resources:
        **score_resources("prepare"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score_stage.py"


rule score_fit:
    input:
        unpack(score_stage_inputs("fit")),
    output:
        "results/scores/{score}/fit.npz",
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=lambda w: score_code(w, "score_stage"),
    log:
        "logs/score_fit/{score}.log",
    benchmark:
        "results/benchmarks/score_fit/{score}.tsv"
    threads: score_threads("fit")
    priority: SELECTION_PRIORITY
    resources:
        **score_resources("fit"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score_stage.py"


rule score_chunk:
    input:
        unpack(score_stage_inputs("apply")),
    output:
        temp("results/scores/{score}/chunks/{chunk}.parquet"),
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=lambda w: score_code(w, "score_chunk"),
    log:
        "logs/score_chunk/{score}/{chunk}.log",
    benchmark:
        "results/benchmarks/score_chunk/{score}/{chunk}.tsv"
    threads: score_threads("apply")
    priority: SELECTION_PRIORITY
    resources:
        **score_resources("apply"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score_chunk.py"


rule score_group:
    input:
        unpack(score_stage_inputs("group")),
    output:
        temp("results/scores/{score}/groups/{shard}.parquet"),
    wildcard_constraints:
        shard=r"\d{5}",
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=lambda w: score_code(w, "score_stage"),
    log:
        "logs/score_group/{score}/{shard}.log",
    benchmark:
        "results/benchmarks/score_group/{score}/{shard}.tsv"
    threads: score_threads("group")
    priority: SELECTION_PRIORITY
    resources:
        **score_resources("group"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score_stage.py"


rule score:
    input:
        unpack(score_stage_inputs("gather")),
    output:
        "results/scores/{score}.parquet",
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=lambda w: score_code(w, "score"),
    log:
        "logs/score/{score}.log",
    benchmark:
        "results/benchmarks/score/{score}.tsv"
    threads: score_threads("gather")
    priority: SELECTION_PRIORITY
    resources:
        **score_resources("gather"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score.py"


rule score_reported:
    input:
        unpack(score_stage_inputs("gather")),
    output:
        score="results/scores/{score}.parquet",
        report="results/scores/{score}.report.json",
    wildcard_constraints:
        score=reported_score_names(),
    params:
        plan=lambda w: score_plan(w.score).to_dict(),
        code=lambda w: score_code(w, "score"),
    log:
        "logs/score/{score}.log",
    benchmark:
        "results/benchmarks/score/{score}.tsv"
    threads: score_threads("gather")
    priority: SELECTION_PRIORITY
    resources:
        **score_resources("gather"),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/score.py"
