"""The tiny world's part-of-speech tagger (config ``taggers``): an NLTK averaged perceptron tagger
trained on the English captions of the world's reference sets, each token tagged from the world's own
vocabulary (:mod:`clipcurate.world.caption_pos`). The score ``pos_noun`` names its weights file
(``tagger_model: results/taggers/<name>/averaged_perceptron_tagger_eng.weights.json``); at real scale
that is NLTK's released English tagger instead, and no entry here is trained.

A share ``held_out`` of the captions (drawn with the seed) is kept out of training; the tagger's
token accuracy on it is written to ``train_info.json``. Script: workflow/scripts/train_tagger.py
(:func:`clipcurate.train.tagger_training.train_world_tagger`).
"""

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import ReferenceSets

register_schema(
    ("properties", "taggers"),
    {
        "description": "part-of-speech taggers trained on the tiny world's captions (the Devil paper's PoS rule)",
        "allOf": [{"$ref": "#/$defs/name_map"}],
        "additionalProperties": {
            "type": "object",
            "required": ["dataset"],
            "additionalProperties": False,
            "properties": {
                "dataset": {"description": "the world's reference set(s) whose captions it learns from",
                            "oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}]},
                "iterations": {"type": "integer", "minimum": 1, "description": "perceptron passes over the captions"},
                "held_out": {"type": "number", "minimum": 0, "exclusiveMaximum": 1,
                             "description": "share of the captions kept out of training to measure accuracy"},
                "max_captions": {"type": "integer", "minimum": 1, "description": "at most this many captions (drawn with the seed)"},
            },
        },
    },
)

register(Trainer(
    name="train_tagger",
    label="tagger",
    section=("taggers",),
    wildcard="tagger",
    inputs={"world": ReferenceSets(key="dataset")},
    outputs={
        "weights": "results/taggers/{tagger}/averaged_perceptron_tagger_eng.weights.json",
        "info": "results/taggers/{tagger}.train_info.json",
    },
    params={
        "cfg": lambda entry, name, w: dict(entry),
        "seed": lambda entry, name, w: w.seed,
    },
    script="train_tagger",
    env="data",
    resources={"mem_mb": 4000, "runtime": 30, "gpus": 0},
    gpu=False,
    module=__name__,
))
