"""Auxiliary CLIPs trained here (config ``models.<name>.train``): on the tiny world the
"pretrained" OpenAI-CLIP analogue, the DFNs of the DFN paper (a CLIP trained on the clean HQ set,
optionally with part of it replaced by pool data: the data-quality experiment) and DFN-FT (a DFN
fine-tuned on the downstream-train and retrieval-train sets). At real scale a model either names
published weights (no ``train`` section; e.g. a published DFN's ``open_clip_pytorch_model.bin`` by
path) or trains on the user's reference sets (``reference_sets:``, e.g. DFN-Base from OpenAI's
weights on a CC12M-style HQ set, FLYT B.1), with open_clip_train as every training here. Script: workflow/scripts/train_reference_model.py
(:func:`clipcurate.train.dfn.reference_train_data`, then open_clip_train)."""

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import InitWeights, PoolShards, ReferenceSets

SETS = ReferenceSets("train.dataset")



def _uses_pool(train) -> bool:
    from clipcurate.train.dfn import uses_pool

    return uses_pool(train)


register_schema(
    ("$defs", "model_spec", "properties", "train"),
    {
        "type": ["object", "null"],
        "additionalProperties": False,
        "required": ["dataset", "samples_seen", "batch_size", "lr", "warmup"],
        "properties": {
            "dataset": {
                "description": "a reference set of the world, or a list of them (their union, e.g. DFN-FT's)",
                "oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"type": "string"}}],
            },
            "replace_with_pool": {"type": "number", "minimum": 0, "maximum": 1,
                                  "description": "fraction of the set replaced by pool samples (DFN data-quality experiment)"},
            "subsample": {"type": "number", "exclusiveMinimum": 0, "maximum": 1,
                          "description": "share of the set kept, drawn by seed (a clean set of another size)"},
            "add_from_pool": {"type": "number", "minimum": 0,
                              "description": "pool samples added to the set, as a multiple of its size (a larger, noisier set)"},
            "seed": {"type": "integer", "minimum": 0, "description": "seeds this model's training and data (default: the global seed)"},
            "samples_seen": {"type": "integer", "minimum": 1},
            "batch_size": {"type": "integer", "minimum": 1},
            "lr": {"type": "number", "exclusiveMinimum": 0},
            "warmup": {"type": "integer", "minimum": 0},
        },
    },
)

register(Trainer(
    name="train_reference_model",
    label="trained model",
    section=("models",),
    select=lambda entry: bool(entry.get("train")),
    select_doc="a model with a train section",
    wildcard="model",
    inputs={
        "world": SETS,  # the world, or the user's shard folders (an HQ set at real scale)
        # the weights it starts from when made here (a DFN-FT starts from the DFN)
        "init": InitWeights("pretrained"),
        # the pool, when pool data replaces part of its set or is added to it
        "pool": PoolShards(when=lambda entry: _uses_pool(entry["train"])),
    },
    outputs={
        "weights": "results/models/{model}/open_clip_pytorch_model.bin",
        "info": "results/models/{model}/train_info.json",
    },
    params={
        "spec": lambda entry, name, w: {"arch": entry["arch"], "pretrained": entry.get("pretrained")},
        "train": lambda entry, name, w: entry["train"],
        "scale": lambda entry, name, w: w.scale,
        "sets": lambda entry, name, w: SETS.folders(entry, w.config),
        "seed": lambda entry, name, w: int(entry["train"].get("seed", w.seed)),
    },
    script="train_reference_model",
    resources={"mem_mb": 16000, "runtime": 24 * 60, "gpus": "scale"},
    figure="results/figures/models/{model}.png",
    module=__name__,
))
