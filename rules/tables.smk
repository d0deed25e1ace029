# Paper tables as targets: results/tables/{table}.csv and .md, plus an HTML rendering and a chart
# (.html, .png) for the report; a table waits only for what its numbers need (its evaluations and subsets).
# The figures of everything a table's rows depend on (pool, scores, training curves, per-task
# evaluations) are their own targets: results/figures/{table}.txt lists them (rule table_figures)
# and `snakemake figures` (Snakefile) draws those of the default tables, so that
# `snakemake --report report.html results/tables/T.csv results/figures/T.txt` shows them. Every
# output meant for the report is flagged with report(...) in the rule that writes it; categories,
# subcategories and labels come from wildcards and config, so a table or method added in config
# appears with no edit here.


# small plotting jobs run where Snakemake runs, not as cluster jobs (score_figure reads a whole score file)
localrules:
    pool_figure,
    quality_figure,
    train_figure,
    model_figure,
    flyt_figure,
    eval_figure,
    table_figures,


rule table:
    input:
        unpack(table_inputs),
    output:
        csv=report(
            "results/tables/{table}.csv",
            caption="../report/table_csv.rst",
            category=REPORT_CAT["tables"],
            subcategory="{table}",
            labels={"table": "{table}", "item": "CSV (download)"},
        ),
        md="results/tables/{table}.md",
        html=report(
            "results/tables/{table}.html",
            caption="../report/table.rst",
            category=REPORT_CAT["tables"],
            subcategory="{table}",
            labels={"table": "{table}", "item": "table"},
        ),
        png=report(
            "results/tables/{table}.png",
            caption="../report/table_chart.rst",
            category=REPORT_CAT["tables"],
            subcategory="{table}",
            labels={"table": "{table}", "item": "chart"},
        ),
    params:
        table=table_params,
        dropped=table_dropped,
        suite=suite_content(),
        show_reported=SHOW_REPORTED,
        code=code_version("table"),
        recipes=lambda w: {row["recipe"]: describe_recipe(row["recipe"]) for row in table_rows(w.table)[0]},
        recipe_cfgs=lambda w: {row["recipe"]: lookup("recipes", row["recipe"]) for row in table_rows(w.table)[0]},
        scale=SCALE["name"],
    log:
        "logs/table/{table}.log",
    benchmark:
        "results/benchmarks/table/{table}.tsv"
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/table.py"


# the figures of one table (the report's items beside the table), listed one per line
rule table_figures:
    input:
        unpack(table_figure_inputs),
    output:
        txt="results/figures/{table}.txt",
    params:
        code=code_version("figure_list"),
    log:
        "logs/figures/lists/{table}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=1000, runtime=5),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_list.py"


rule pool_figure:
    input:
        report="results/pool/download_report.json",
        index=POOL_INDEX,
        world=world_truth_input(),
    output:
        png=report(
            "results/figures/pool/download.png",
            caption="../report/pool.rst",
            category=REPORT_CAT["pool"],
            subcategory="download",
            labels={"item": "download outcome and pool composition"},
        ),
    params:
        code=code_version("figure_pool"),
        source=config["pool"]["source"],
    log:
        "logs/figures/pool.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=4000, runtime=20),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_pool.py"


rule score_figure:
    input:
        scores="results/scores/{score}.parquet",
        world=world_truth_input(),
    output:
        png=report(
            "results/figures/scores/{score}.png",
            caption="../report/score.rst",
            category=REPORT_CAT["scores"],
            subcategory="score distributions",
            labels={"score": "{score}"},
        ),
    params:
        code=code_version("figure_score"),
        describe=lambda w: describe_score(w.score),
    log:
        "logs/figures/score/{score}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=16000, runtime=30),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_score.py"


rule train_figure:
    input:
        info="results/train/{recipe}/train_info.json",
    output:
        png=report(
            "results/figures/train/{recipe}.png",
            caption="../report/train.rst",
            category=REPORT_CAT["training"],
            subcategory="CLIP training on each subset",
            labels={"recipe": "{recipe}"},
        ),
    params:
        code=code_version("figure_train"),
        what=lambda w: f"CLIP trained on recipe {w.recipe}",
        describe=lambda w: describe_recipe(w.recipe),
    log:
        "logs/figures/train/{recipe}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_train.py"


rule model_figure:
    input:
        info="results/models/{model}/train_info.json",
    output:
        png=report(
            "results/figures/models/{model}.png",
            caption="../report/model.rst",
            category=REPORT_CAT["training"],
            subcategory="reference models",
            labels={"model": "{model}"},
        ),
    params:
        code=code_version("figure_train"),
        what=lambda w: f"reference model {w.model}",
        train=lambda w: trained_model_cfg(w)["train"],
    log:
        "logs/figures/models/{model}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_train.py"


rule flyt_figure:
    input:
        info="results/flyt/{flyt}/train_info.json",
    output:
        png=report(
            "results/figures/flyt/{flyt}.png",
            caption="../report/flyt.rst",
            category=REPORT_CAT["training"],
            subcategory="FLYT scoring models",
            labels={"run": "{flyt}", "item": "training curves"},
        ),
    params:
        code=code_version("figure_flyt"),
        run=lambda w: flyt_run(w.flyt),
        train=lambda w: flyt_train(w.flyt),
        label=lambda w: trained_label("results/flyt/{flyt}/train_info.json", w.flyt),
    log:
        "logs/figures/flyt/{flyt}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_flyt.py"


rule eval_figure:
    input:
        eval="results/eval/{recipe}.jsonl",
    output:
        html=report(
            "results/figures/eval/{recipe}.html",
            caption="../report/eval.rst",
            category=REPORT_CAT["evaluation"],
            subcategory="per-task results",
            labels={"recipe": "{recipe}", "item": "table"},
        ),
        png=report(
            "results/figures/eval/{recipe}.png",
            caption="../report/eval.rst",
            category=REPORT_CAT["evaluation"],
            subcategory="per-task results",
            labels={"recipe": "{recipe}", "item": "chart"},
        ),
    params:
        code=code_version("figure_eval"),
        suite=suite_content(),
        describe=lambda w: describe_recipe(w.recipe),
    log:
        "logs/figures/eval/{recipe}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_eval.py"


rule quality_figure:
    input:
        subsets=lambda w: [f"results/subsets/{row['recipe']}.parquet" for row in table_rows(w.table)[0]],
        index=POOL_INDEX,
        world=WORLD_DIR,
    output:
        png=report(
            "results/figures/quality/{table}.png",
            caption="../report/quality.rst",
            category=REPORT_CAT["scores"],
            subcategory="subset composition",
            labels={"table": "{table}"},
        ),
    params:
        code=code_version("figure_quality"),
        rows=lambda w: table_rows(w.table)[0],
    log:
        "logs/figures/quality/{table}.log",
    threads: 1
    resources:
        **cpu_resources(mem_mb=4000, runtime=10),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/figure_quality.py"
