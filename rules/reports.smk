# Reports of the tiny world and the DFN paper's data-quality figure.


rule score_quality:
    input:
        unpack(score_quality_inputs),
    output:
        csv=report(
            "results/reports/score_quality.csv",
            caption="../report/score_quality.rst",
            category=REPORT_CAT["scores"],
            subcategory="filter quality (ground truth)",
            labels={"item": "table (CSV)"},
        ),
        png=report(
            "results/reports/score_quality.png",
            caption="../report/score_quality.rst",
            category=REPORT_CAT["scores"],
            subcategory="filter quality (ground truth)",
            labels={"item": "heatmap"},
        ),
        notes="results/reports/score_quality_notes.txt",
    params:
        scores=lambda w: quality_scores(),
        recipes=lambda w: {r: config["recipes"][r]["score"] for r in quality_recipes()},
        methods=lambda w: {s: config["scores"][s]["method"] for s in quality_scores()},
        expectations=(config.get("reports") or {}).get("score_quality", {}).get("expectations") or [],
        code=code_version("score_quality"),
    log:
        "logs/reports/score_quality.log",
    benchmark:
        "results/benchmarks/reports/score_quality.tsv"
    threads: 1
    resources:
        **cpu_resources(mem_mb=4000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/score_quality.py"


rule dfn_data_quality:
    input:
        unpack(dfn_quality_inputs),
    output:
        png=report(
            "results/figures/dfn_data_quality.png",
            caption="../report/dfn_data_quality.rst",
            category=REPORT_CAT["tables"],
            subcategory="DFN data quality",
            labels={"item": "figure"},
        ),
        csv=report(
            "results/figures/dfn_data_quality.csv",
            caption="../report/dfn_data_quality.rst",
            category=REPORT_CAT["tables"],
            subcategory="DFN data quality",
            labels={"item": "CSV"},
        ),
    params:
        points=DFN_QUALITY_POINTS,
        suite=suite_content(),
        code=code_version("dfn_data_quality"),
    log:
        "logs/reports/dfn_data_quality.log",
    benchmark:
        "results/benchmarks/reports/dfn_data_quality.tsv"
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/dfn_data_quality.py"
