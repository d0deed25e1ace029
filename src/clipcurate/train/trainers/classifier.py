"""The DFN paper's binary-classifier backbone (Table 1; config ``classifiers``): a linear classifier
over frozen embeddings of one model, a reference set's samples positive and the pool's negative
(:func:`clipcurate.scores.helpers.classifier.train_binary_classifier`; FLYT B.2's settings). Its logit is the
``binary_classifier`` score. Script: workflow/scripts/train_classifier.py."""

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import PoolEmbeddings, ReferenceEmbeddings

register_schema(
    ("properties", "classifiers"),
    {
        "description": "binary classifiers over frozen embeddings (the DFN paper's classifier backbone)",
        "allOf": [{"$ref": "#/$defs/name_map"}],
        "additionalProperties": {
            "type": "object",
            "required": ["model", "positive", "steps", "batch_size", "lr", "warmup"],
            "additionalProperties": False,
            "properties": {
                "model": {"type": "string", "description": "the model whose embeddings it reads"},
                "positive": {"type": "string", "description": "the reference set of positives; the pool gives the negatives"},
                "features": {"enum": ["image", "text", "image_text"]},
                "steps": {"type": "integer", "minimum": 1},
                "batch_size": {"type": "integer", "minimum": 2},
                "lr": {"type": "number", "exclusiveMinimum": 0},
                "warmup": {"type": "integer", "minimum": 0},
                "wd": {"type": "number", "minimum": 0},
                "max_negatives": {"type": ["integer", "null"], "minimum": 1,
                                  "description": "pool rows drawn as negatives (uniform, seeded); null: the whole pool"},
            },
        },
    },
)

register(Trainer(
    name="train_classifier",
    label="classifier",
    section=("classifiers",),
    wildcard="classifier",
    inputs={
        "positive": ReferenceEmbeddings(set_key="positive", model_key="model"),
        "embeddings": PoolEmbeddings(model_key="model"),
    },
    outputs={
        "classifier": "results/classifiers/{classifier}/classifier.pt",
        "info": "results/classifiers/{classifier}/train_info.json",
    },
    params={
        "cfg": lambda entry, name, w: dict(entry),
        "seed": lambda entry, name, w: w.seed,
    },
    script="train_classifier",
    resources={"mem_mb": 32000, "runtime": 4 * 60, "gpus": 1},  # medium: a 2M-row negative sample (config/scales/medium.yaml)
    module=__name__,
))
