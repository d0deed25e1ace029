"""The tiny world's digit detector (the Devil paper's digit enhancement; config ``digit_detectors``):
an MLP head (or logistic regression) on one model's frozen image embeddings of a world reference set, labelled by the
world's ground truth (which samples the generator drew as digit scenes,
:func:`clipcurate.scores.helpers.digit_detect.world_digit_labels`). The ``digits`` score reads it
(:mod:`clipcurate.scores.methods.digits`). At real scale BLIP-2 answers the same question instead
(:func:`clipcurate.scores.helpers.digit_detect.ask_blip2`). Script: workflow/scripts/train_digit_detector.py.
A CPU job: the fit is seconds on a few thousand embeddings."""

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import ReferenceEmbeddings, ReferenceSets

register_schema(
    ("properties", "digit_detectors"),
    {
        "description": "digit detectors over frozen image embeddings (the Devil paper's digit enhancement on the tiny world)",
        "allOf": [{"$ref": "#/$defs/name_map"}],
        "additionalProperties": {
            "type": "object",
            "required": ["model", "set"],
            "additionalProperties": False,
            "properties": {
                "model": {"type": "string", "description": "the model whose image embeddings it reads (the score's model)"},
                "set": {"type": "string", "description": "the world reference set it is trained on (labels from the world's truth)"},
                "hidden": {"type": "integer", "minimum": 0, "description": "units of the MLP head's hidden layer; 0: logistic regression"},
                "alpha": {"type": "number", "minimum": 0, "description": "the MLP's L2 penalty (scikit-learn)"},
                "C": {"type": "number", "exclusiveMinimum": 0, "description": "logistic regression's inverse L2 penalty"},
                "max_iter": {"type": "integer", "minimum": 1, "description": "the MLP's epochs"},
                "holdout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "description": "share held out to measure accuracy"},
                "balanced": {"type": "boolean", "description": "logistic regression: class weights inverse to frequency"},
            },
        },
    },
)

register(Trainer(
    name="train_digit_detector",
    label="digit detector",
    section=("digit_detectors",),
    wildcard="detector",
    inputs={
        "embeddings": ReferenceEmbeddings(set_key="set", model_key="model"),
        "world": ReferenceSets(key="set"),
    },
    outputs={
        "detector": "results/digit_detectors/{detector}/detector.npz",
        "info": "results/digit_detectors/{detector}/train_info.json",
    },
    params={
        "cfg": lambda entry, name, w: dict(entry),
        "seed": lambda entry, name, w: w.seed,
    },
    script="train_digit_detector",
    env="torch",
    resources={"mem_mb": 4000, "runtime": 30, "gpus": 0},
    gpu=False,
    module=__name__,
))
