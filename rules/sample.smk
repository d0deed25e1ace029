# Subsets: uid + count (repetitions), and DataComp's sorted u8,u8 .npy with repeats; plus the
# repetition report (FLYT Figure 2): stats JSON and histogram PNG.


rule sample:
    wildcard_constraints:
        recipe=SAMPLE_CONSTRAINTS["plain"],
    input:
        index=POOL_INDEX,
        scores=lambda w: recipe_score_file(lookup("recipes", w.recipe)),
    output:
        subset="results/subsets/{recipe}.parquet",
        npy="results/subsets/{recipe}.npy",
        stats="results/subsets/{recipe}.stats.json",
        hist=report(
            "results/subsets/{recipe}.hist.png",
            caption="../report/subset.rst",
            category=REPORT_CAT["subsets"],
            subcategory="repetition histograms",
            labels={"recipe": "{recipe}"},
        ),
    params:
        sample=lambda w: lookup("recipes", w.recipe)["sample"],
        n_target=lambda w: recipe_n_target(lookup("recipes", w.recipe)),
        seed=SEED,
        code=code_version("sample"),
    log:
        "logs/sample/{recipe}.log",
    benchmark:
        "results/benchmarks/sample/{recipe}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=16000, runtime=60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/sample.py"


# Recipes restricted to a sub-pool (`within: <score>:keep`, FLYT Table 4): the same outputs, sampled
# among the sub-pool's rows (clipcurate.sample.within); a rule of their own, so that the plain sample
# jobs' code does not change with it.
rule sample_within:
    wildcard_constraints:
        recipe=SAMPLE_CONSTRAINTS["within"],
    input:
        index=POOL_INDEX,
        scores=lambda w: recipe_score_file(lookup("recipes", w.recipe)),
        within=lambda w: recipe_within_file(lookup("recipes", w.recipe)),
    output:
        subset="results/subsets/{recipe}.parquet",
        npy="results/subsets/{recipe}.npy",
        stats="results/subsets/{recipe}.stats.json",
        hist=report(
            "results/subsets/{recipe}.hist.png",
            caption="../report/subset.rst",
            category=REPORT_CAT["subsets"],
            subcategory="repetition histograms",
            labels={"recipe": "{recipe}"},
        ),
    params:
        sample=lambda w: lookup("recipes", w.recipe)["sample"],
        within=lambda w: lookup("recipes", w.recipe)["within"],
        n_target=lambda w: recipe_n_target(lookup("recipes", w.recipe)),
        seed=SEED,
        code=code_version("sample_within"),
    log:
        "logs/sample/{recipe}.log",
    benchmark:
        "results/benchmarks/sample/{recipe}.tsv"
    threads: 1
    priority: SELECTION_PRIORITY
    resources:
        **cpu_resources(mem_mb=16000, runtime=60),
    conda:
        "../envs/data.yaml"
    script:
        "../workflow/scripts/sample_within.py"
