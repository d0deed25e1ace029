# Auxiliary models and every other trained artifact a score or mix reads. On the tiny world the
# "pretrained" models are trained here, with open_clip_train, on the world's reference sets; at real
# scale the same spec names published weights instead.
#
# One rule per trainer plug-in (clipcurate.train.trainers: train_reference_model for models with `train:`,
# train_classifier, train_mflyt and train_eflyt for FLYT runs, ...), defined in a loop: its inputs,
# outputs, wildcard constraint, params, resources and environment all come from the trainer's
# declaration (clipcurate.config.wiring.Wiring.trainer_*). A new trainer is one module there.


for trainer in W.trainers():

    rule:
        name:
            trainer.name
        input:
            unpack(W.trainer_inputs(trainer)),
        output:
            **W.trainer_outputs(trainer, report, REPORT_CAT["training"]),
        wildcard_constraints:
            **W.trainer_constraints(trainer),
        params:
            **W.trainer_params(trainer),
        log:
            trainer.log,
        benchmark:
            trainer.benchmark
        threads: JOB_THREADS
        priority: SELECTION_PRIORITY
        resources:
            **W.trainer_resources(trainer),
        conda:
            f"../envs/{trainer.env}.yaml"
        script:
            # Snakemake evaluates this twice: here (`trainer` is this rule's) and when the job runs,
            # where `trainer` is the loop's last, so there the rule's own name (`rule`) picks it
            W.trainer_script(locals().get("rule") or trainer.name)


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
