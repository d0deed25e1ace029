# Paper tables as targets: results/tables/{table}.csv and .md.


def table_inputs(wildcards):
    table = lookup("tables", wildcards.table)
    recipes = [row["recipe"] for row in table["rows"]]
    return {
        "evals": [f"results/eval/{r}.jsonl" for r in recipes],
        "subsets": [f"results/subsets/{r}.parquet" for r in recipes],
    }


rule table:
    input:
        unpack(table_inputs),
    output:
        csv="results/tables/{table}.csv",
        md="results/tables/{table}.md",
    params:
        table=lambda w: lookup("tables", w.table),
        suite=suite_path(),
        show_reported=SHOW_REPORTED,
    log:
        "logs/table/{table}.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/table.py"
