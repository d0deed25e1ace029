# Auxiliary models. On the tiny world the "pretrained" models are trained here, with open_clip_train,
# on the world's reference sets; at real scale the same spec names published weights instead.


rule train_reference_model:
    input:
        unpack(reference_model_inputs),
    output:
        weights="results/models/{model}/open_clip_pytorch_model.bin",
        info="results/models/{model}/train_info.json",
    params:
        spec=lambda w: {"arch": trained_model_cfg(w)["arch"], "pretrained": trained_model_cfg(w).get("pretrained")},
        train=lambda w: trained_model_cfg(w)["train"],
        scale=SCALE,
        seed=lambda w: int(trained_model_cfg(w)["train"].get("seed", SEED)),
        code=code_version("train_reference_model"),
    log:
        "logs/train_reference_model/{model}.log",
    benchmark:
        "results/benchmarks/train_reference_model/{model}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=16000, runtime=24 * 60, gpus=SCALE.get("gpus", 1)),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_reference_model.py"


# FLYT scoring models (FLYT paper, Algorithm 1): an M-FLYT mixer over standardised input scores,
# or an E-FLYT head over frozen CLIP embeddings, trained by meta-gradients from the downstream set.


rule train_mflyt:
    input:
        unpack(flyt_inputs),
    output:
        mixer="results/flyt/{flyt}/mixer.json",
        weights=report(
            "results/flyt/{flyt}/weights.csv",
            caption="../report/weights.rst",
            category=REPORT_CAT["training"],
            subcategory="FLYT scoring models",
            labels={"run": "{flyt}", "item": "learned weights (CSV)"},
        ),
        info="results/flyt/{flyt}/train_info.json",
    wildcard_constraints:
        flyt=flyt_names("mixer"),
    params:
        run=flyt_params,
        seed=SEED,
        code=code_version("train_flyt"),
    log:
        "logs/train_flyt/{flyt}.log",
    benchmark:
        "results/benchmarks/train_flyt/{flyt}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=32000, runtime=24 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_flyt.py"


rule train_eflyt:
    input:
        unpack(flyt_inputs),
    output:
        head="results/flyt/{flyt}/head.pt",
        info="results/flyt/{flyt}/train_info.json",
    wildcard_constraints:
        flyt=flyt_names("embedding"),
    params:
        run=flyt_params,
        seed=SEED,
        code=code_version("train_flyt"),
    log:
        "logs/train_flyt/{flyt}.log",
    benchmark:
        "results/benchmarks/train_flyt/{flyt}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=32000, runtime=24 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_flyt.py"


# The DFN paper's binary-classifier backbone (Table 1): a linear classifier over frozen embeddings of
# one model, a reference set's samples positive and the pool's negative; its logit is a score.


rule train_classifier:
    input:
        positive=lambda w: "results/reference_embeddings/{model}/{positive}.parquet".format(**classifier_cfg(w)),
        embeddings=lambda w: expand("results/embeddings/{model}/{chunk}.parquet", model=classifier_cfg(w)["model"], chunk=CHUNKS),
    output:
        classifier="results/classifiers/{classifier}/classifier.pt",
        info="results/classifiers/{classifier}/train_info.json",
    params:
        cfg=classifier_cfg,
        seed=SEED,
        code=code_version("train_classifier"),
    log:
        "logs/train_classifier/{classifier}.log",
    benchmark:
        "results/benchmarks/train_classifier/{classifier}.tsv"
    threads: JOB_THREADS
    priority: SELECTION_PRIORITY
    resources:
        **gpu_resources(mem_mb=16000, runtime=4 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/train_classifier.py"


# Zero-shot evaluation of an auxiliary model itself (a DFN's own ImageNet-analogue accuracy, the
# x axis of the data-quality figure), on the same suite as the trained models.


rule evaluate_reference_model:
    input:
        weights=lambda w: model_spec(w.model)["pretrained"],
        data=eval_input(),
    output:
        "results/eval/models/{model}.jsonl",
    params:
        arch=lambda w: lookup("models", w.model)["arch"],
        suite=suite_content(),
        root=eval_root(),
        batch_size=config["evaluation"]["batch_size"],
        code=code_version("evaluate"),
    log:
        "logs/evaluate_reference_model/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_reference_model/{model}.tsv"
    threads: JOB_THREADS
    resources:
        **gpu_resources(mem_mb=16000, runtime=4 * 60),
    conda:
        "../envs/torch.yaml"
    script:
        "../workflow/scripts/evaluate.py"
