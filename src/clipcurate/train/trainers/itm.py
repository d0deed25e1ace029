"""The tiny world's ITM model (config ``itm``): a small image-text matching head over a frozen
reference CLIP's embeddings, trained on a clean set's matched pairs with in-batch hard negatives
(:func:`clipcurate.scores.helpers.itm.train_itm_head`), the stand-in for BLIP's ITM head that the Devil paper's
cross-modality filter uses at real scale. Its probability is the ``itm`` score. A seeded share of
the set is held out and the head's AUC on it (matched pairs against random and hard mismatched
captions) is recorded in ``train_info.json``. Script: workflow/scripts/train_itm.py."""

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import ReferenceEmbeddings

register_schema(
    ("properties", "itm"),
    {
        "description": "ITM heads over frozen embeddings (the tiny world's stand-in for BLIP ITM; trainer itm)",
        "allOf": [{"$ref": "#/$defs/name_map"}],
        "additionalProperties": {
            "type": "object",
            "required": ["model", "dataset", "hidden", "steps", "batch_size", "lr", "warmup"],
            "additionalProperties": False,
            "properties": {
                "model": {"type": "string", "description": "the frozen CLIP whose embeddings it reads"},
                "dataset": {"type": "string", "description": "the reference set of matched pairs (the world's hq)"},
                "hidden": {"type": "integer", "minimum": 1, "description": "hidden width of the MLP head"},
                "steps": {"type": "integer", "minimum": 1},
                "batch_size": {"type": "integer", "minimum": 2, "description": "pairs per batch (each adds two hard negatives)"},
                "lr": {"type": "number", "exclusiveMinimum": 0},
                "warmup": {"type": "integer", "minimum": 0},
                "wd": {"type": "number", "minimum": 0},
                "heldout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1,
                            "description": "share of the set held out for the recorded AUC"},
                "same_threshold": {"type": "number", "description": "cosine above which a candidate negative counts as the positive's own caption/image"},
                "temperature": {"type": "number", "minimum": 0,
                                "description": "hard negatives drawn by softmax(sim / temperature) as BLIP does; 0: the most similar"},
            },
        },
    },
)

register(Trainer(
    name="train_itm",
    label="ITM head",
    section=("itm",),
    wildcard="itm",
    inputs={"pairs": ReferenceEmbeddings(set_key="dataset", model_key="model")},
    outputs={
        "head": "results/itm/{itm}/head.pt",
        "info": "results/itm/{itm}/train_info.json",
    },
    params={
        "cfg": lambda entry, name, w: dict(entry),
        "seed": lambda entry, name, w: w.seed,
    },
    script="train_itm",
    resources={"mem_mb": 8000, "runtime": 60, "gpus": 1},
    module=__name__,
))
