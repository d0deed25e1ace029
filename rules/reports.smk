# Reports of the tiny world and the DFN paper's data-quality figure.


rule score_quality:
    input:
        unpack(score_quality_inputs),
    output:
        csv="results/reports/score_quality.csv",
        png="results/reports/score_quality.png",
        notes="results/reports/score_quality_notes.txt",
    params:
        scores=lambda w: quality_scores(),
        recipes=lambda w: {r: config["recipes"][r]["score"] for r in quality_recipes()},
        expectations=(config.get("reports") or {}).get("score_quality", {}).get("expectations") or [],
        code=code_version("quality"),
    log:
        "logs/reports/score_quality.log",
    benchmark:
        "results/benchmarks/reports/score_quality.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score_quality.py"


rule dfn_data_quality:
    input:
        unpack(dfn_quality_inputs),
    output:
        png="results/figures/dfn_data_quality.png",
        csv="results/figures/dfn_data_quality.csv",
    params:
        points=DFN_QUALITY_POINTS,
        suite=suite_path(),
        code=code_version("dfn"),
    log:
        "logs/reports/dfn_data_quality.log",
    benchmark:
        "results/benchmarks/reports/dfn_data_quality.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/dfn_data_quality.py"
