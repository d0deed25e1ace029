# Auxiliary models. On the tiny world the "pretrained" models are trained here, with open_clip_train,
# on the world's reference sets; at real scale the same spec names published weights instead.


rule train_reference_model:
    input:
        WORLD_DIR,
    output:
        weights="results/models/{model}/open_clip_pytorch_model.bin",
        info="results/models/{model}/train_info.json",
    params:
        spec=lambda w: {"arch": trained_model_cfg(w)["arch"], "pretrained": trained_model_cfg(w).get("pretrained")},
        train=lambda w: trained_model_cfg(w)["train"],
        scale=SCALE,
        seed=SEED,
    log:
        "logs/train_reference_model/{model}.log",
    benchmark:
        "results/benchmarks/train_reference_model/{model}.tsv"
    threads: 2
    resources:
        **gpu_resources(mem_mb=16000, runtime=24 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_reference_model.py"
