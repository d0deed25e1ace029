# Aggregations of score files into one score per sample (sums, intersections, M-FLYT ...).


rule mix:
    input:
        unpack(mix_inputs),
    output:
        "results/mixes/{mix}.parquet",
    params:
        mix=lambda w: mix_spec(w.mix),
        specs=lambda w: score_specs(mix_spec(w.mix)["inputs"]),
        recipes=lambda w: mix_recipe_refs(w.mix),
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
        "../envs/data.yaml"
    script:
        "../workflow/scripts/mix.py"
