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
        "../envs/data.yaml"
    script:
        "../workflow/scripts/dfn_data_quality.py"


# The claims target: every claim of reports.claims decided over runs with other seeds
# (clipcurate.report.claims_runs). Each run is a nested snakemake in results/claims/seed{seed}/ that
# builds only the files the claims read; it runs where this Snakemake runs (with
# reports.claims_runs.snakemake_args, e.g. [--profile, slurm], its own jobs go to the cluster).
# `--forcerun claims_run` asks the runs again after an edit; each reruns only what changed in it.
localrules:
    claims_run,
    claims,


rule claims_run:
    output:
        "results/claims/seed{seed}/claims_run.json",
    params:
        seed=lambda w: int(w.seed),
        targets=claims_targets(),
        configfiles=[*CALLER_CONFIGFILES, *CLAIMS_RUNS["configfiles"]],
        overrides=CALLER_OVERRIDES,
        rows_only=claims_rows_only(),
        snakemake_args=CLAIMS_RUNS["snakemake_args"],
        code=code_version("claims_run"),
    log:
        "logs/claims/seed{seed}.log",
    threads: CLAIMS_RUNS["cores"]
    resources:
        **cpu_resources(mem_mb=2000, runtime=7 * 24 * 60),
    conda:
        "../envs/workflow.yaml"
    script:
        "../workflow/scripts/claims_run.py"


rule claims:
    input:
        lambda w: claims_run_files(),  # a function: planned (and refused at real scale) only when the claims are asked for
    output:
        csv=report(
            "results/reports/claims.csv",
            caption="../report/claims.rst",
            category=REPORT_CAT["tables"],
            subcategory="claims",
            labels={"item": "CSV"},
        ),
        md="results/reports/claims.md",
    params:
        claims=CLAIMS,
        runs=claims_run_dirs(),
        z=CLAIMS_RUNS["z"],
        code=code_version("claims"),
    log:
        "logs/reports/claims.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=1000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/claims.py"
