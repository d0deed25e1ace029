# Aggregations of score files into one score per sample (sums, intersections, M-FLYT ...). A mix
# method that reads a trained artifact (M-FLYT's mixer) declares it in clipcurate.mix.declared.DECLARED;
# inputs and params derive from clipcurate.scores.plan.plan_mix.


rule mix:
    input:
        unpack(mix_inputs),
    output:
        "results/mixes/{mix}.parquet",
    params:
        plan=lambda w: mix_plan(w.mix).to_dict(),
        suite=suite_content(),
        code=code_version("mix"),
    log:
        "logs/mix/{mix}.log",
    benchmark:
        "results/benchmarks/mix/{mix}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=16000, runtime=60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/mix.py"
