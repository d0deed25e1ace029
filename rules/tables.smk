# Paper tables as targets: results/tables/{table}.csv and .md.


rule table:
    input:
        unpack(table_inputs),
    output:
        csv="results/tables/{table}.csv",
        md="results/tables/{table}.md",
    params:
        table=table_params,
        dropped=table_dropped,
        suite=suite_content(),
        show_reported=SHOW_REPORTED,
        code=code_version("table"),
    log:
        "logs/table/{table}.log",
    benchmark:
        "results/benchmarks/table/{table}.tsv"
    threads: 1
    resources:
        **cpu_resources(mem_mb=2000, runtime=10),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/table.py"
