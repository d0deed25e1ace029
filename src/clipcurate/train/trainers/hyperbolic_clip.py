"""The hyperbolic CLIP that HYPE's scores read (config ``hyperbolic``; :mod:`clipcurate.embed.hyperbolic`):
MERU's objective (contrastive on the negative Lorentzian distance plus the text-entails-image cone
loss, K = 0.1, learned curvature) over two small towers on the frozen embeddings of one model, trained
on one reference set's pairs (the tiny world: ``openai``'s embeddings of its pretraining set, the set
the OpenAI-CLIP analogue itself was trained on). A held-out share of the pairs measures the model:
the AUC of matched against mismatched pairs by ``-d_L``, in ``train_info.json``.
Script: workflow/scripts/train_hyperbolic.py."""

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import ReferenceEmbeddings

register_schema(
    ("properties", "hyperbolic"),
    {
        "description": "hyperbolic CLIPs (MERU-style) over a model's frozen embeddings, for the hype score",
        "allOf": [{"$ref": "#/$defs/name_map"}],
        "additionalProperties": {
            "type": "object",
            "required": ["model", "dataset", "steps", "batch_size", "lr", "warmup"],
            "additionalProperties": False,
            "properties": {
                "model": {"type": "string", "description": "the model whose frozen embeddings the towers read"},
                "dataset": {"type": "string", "description": "the reference set of matched pairs it trains on"},
                "dim": {"type": "integer", "minimum": 2, "description": "the hyperbolic space's dimension"},
                "hidden": {"type": "integer", "minimum": 0, "description": "tower hidden width (0: linear towers)"},
                "steps": {"type": "integer", "minimum": 1},
                "batch_size": {"type": "integer", "minimum": 2},
                "lr": {"type": "number", "exclusiveMinimum": 0},
                "warmup": {"type": "integer", "minimum": 0},
                "wd": {"type": "number", "minimum": 0},
                "entail_weight": {"type": "number", "minimum": 0, "description": "MERU's entailment loss weight (0.2)"},
                "curv_init": {"type": "number", "exclusiveMinimum": 0, "description": "initial curvature c (MERU: 1)"},
                "learn_curvature": {"type": "boolean"},
                "holdout": {"type": "number", "minimum": 0, "exclusiveMaximum": 1,
                            "description": "share of the pairs held out to measure the matched-pair AUC"},
            },
        },
    },
)

register(Trainer(
    name="train_hyperbolic",
    label="hyperbolic CLIP",
    section=("hyperbolic",),
    wildcard="hyperbolic",
    inputs={"pairs": ReferenceEmbeddings(set_key="dataset", model_key="model")},
    outputs={
        "model": "results/hyperbolic/{hyperbolic}/model.pt",
        "info": "results/hyperbolic/{hyperbolic}/train_info.json",
    },
    params={
        "cfg": lambda entry, name, w: dict(entry),
        "seed": lambda entry, name, w: w.seed,
    },
    script="train_hyperbolic",
    resources={"mem_mb": 8000, "runtime": 2 * 60},
    gpu=False,  # two small towers over stored embeddings: seconds to minutes on CPU
    module=__name__,
))
