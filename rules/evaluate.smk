# Zero-shot evaluation with clip_benchmark; one DataComp-format jsonl per recipe.


rule evaluate:
    input:
        weights="results/train/{recipe}/model/open_clip_pytorch_model.bin",
        data=eval_input(),
    output:
        "results/eval/{recipe}.jsonl",
    params:
        arch=SCALE["model"],
        suite=suite_content(),
        root=eval_root(),
        batch_size=config["evaluation"]["batch_size"],
        code=code_version("evaluate"),
    log:
        "logs/evaluate/{recipe}.log",
    benchmark:
        "results/benchmarks/evaluate/{recipe}.tsv"
    threads: JOB_THREADS
    resources:
        **gpu_resources(mem_mb=16000, runtime=4 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/evaluate.py"
