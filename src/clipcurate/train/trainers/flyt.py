"""FLYT scoring models (FLYT paper, Algorithm 1; config ``flyt.runs``), trained by meta-gradients
from the downstream set (:func:`clipcurate.train.flyt.run.train_run`, workflow/scripts/train_flyt.py):

* ``train_mflyt`` (``scorer: mixer``): M-FLYT, a linear mixer over pool-standardised input scores
  (FLYT §4.2), read by the ``mflyt`` mix (:data:`clipcurate.mix.declared.DECLARED`);
* ``train_eflyt`` (``scorer: embedding``): E-FLYT, a GLU head over frozen [image, text] CLIP
  embeddings of ``embed_model``, read by the ``eflyt`` score.

A run's training settings are ``flyt.train``, overridden by ``flyt.scorer_train.<scorer>`` (the
settings every M-FLYT or every E-FLYT run shares where they differ from the other kind's: on the tiny
world M-FLYT trains 600 steps and E-FLYT 60), overridden by the run's own ``train``.
"""

from typing import Mapping

from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import Folder, ModelWeights, PoolShards, ScoreFiles

_TRAIN_KEYS = {
    "steps": {"type": "integer", "minimum": 1},
    "upstream_batch": {"type": "integer", "minimum": 2},
    "downstream_batch": {"type": "integer", "minimum": 1},
    "reference_lr": {"type": "number", "minimum": 0},
    "scorer_lr": {"type": "number", "exclusiveMinimum": 0},
    "warmup": {"type": "integer", "minimum": 0},
    "downstream_loss": {"enum": ["ce", "ce_temperature", "clip"]},
    "update_reference": {"type": "boolean"},
    "shuffle_buffer": {"type": "integer", "minimum": 1},
}
register_schema(("$defs", "flyt_train_override"), {"type": "object", "additionalProperties": False, "properties": _TRAIN_KEYS})
register_schema(("$defs", "flyt_train"), {"allOf": [{"$ref": "#/$defs/flyt_train_override"}], "required": list(_TRAIN_KEYS)})
register_schema(
    ("properties", "flyt"),
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["train", "runs"],
        "properties": {
            "train": {"$ref": "#/$defs/flyt_train"},
            "scorer_train": {
                "type": "object",
                "additionalProperties": False,
                "description": "overrides of flyt.train for every run of one scorer kind (before the run's own train)",
                "properties": {"mixer": {"$ref": "#/$defs/flyt_train_override"},
                               "embedding": {"$ref": "#/$defs/flyt_train_override"}},
            },
            "runs": {
                "allOf": [{"$ref": "#/$defs/name_map"}],
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["scorer", "reference_model"],
                    "properties": {
                        "scorer": {"enum": ["mixer", "embedding"], "description": "mixer = M-FLYT, embedding = E-FLYT"},
                        "inputs": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                        "embed_model": {"type": "string"},
                        "reference_model": {"type": "string"},
                        "downstream": {"type": ["string", "null"]},
                        "hidden_mult": {"type": "number", "exclusiveMinimum": 0},
                        "standardize": {"type": "boolean", "description": "M-FLYT: z-score each input over the pool (default true; FLYT Table 8's ablation turns it off)"},
                        "train": {"$ref": "#/$defs/flyt_train_override"},
                    },
                    "allOf": [
                        {"if": {"properties": {"scorer": {"const": "mixer"}}}, "then": {"required": ["inputs"]}},
                        {"if": {"properties": {"scorer": {"const": "embedding"}}},
                         "then": {"required": ["embed_model"], "not": {"required": ["standardize"]}}},
                    ],
                },
            },
        },
    },
)


def run_train(config: Mapping, run: Mapping) -> dict:
    """A run's training hyperparameters: ``flyt.train``, overridden by ``flyt.scorer_train`` for the
    run's scorer kind, overridden by the run's own ``train``."""
    by_kind = (config["flyt"].get("scorer_train") or {}).get(run["scorer"]) or {}
    return {**config["flyt"]["train"], **by_kind, **(run.get("train") or {})}


def downstream_dir(run: Mapping) -> str:
    """The labelled downstream shards: the run's folder, or the world's downstream set."""
    return run.get("downstream") or "resources/world/reference/downstream"


def run_params(run: Mapping, name: str, w) -> dict:
    """The ``run`` param of a FLYT rule (what workflow/scripts/train_flyt.py passes to train_run)."""
    return {
        "scorer": run["scorer"],
        "train": run_train(w.config, run),
        "reference_spec": w.model_spec(run["reference_model"]),
        "downstream_dir": downstream_dir(run),
        "score_specs": w.score_specs(run.get("inputs", [])),
        "embed_spec": w.model_spec(run["embed_model"]) if "embed_model" in run else None,
        "hidden_mult": float(run.get("hidden_mult", 1.0)),
        # only when set, so that the runs that leave it at its default keep their params
        **({"standardize": bool(run["standardize"])} if "standardize" in run else {}),
    }


_COMMON_INPUTS = {
    "pool": PoolShards(),
    "reference": ModelWeights("reference_model"),
    # a subdirectory of the world cannot be an input of its own; depend on the world itself
    "downstream": Folder("downstream"),
}
_COMMON = dict(
    section=("flyt", "runs"),
    wildcard="flyt",
    params={"run": run_params, "seed": lambda run, name, w: w.seed},
    script="train_flyt",
    resources={"mem_mb": 32000, "runtime": 24 * 60, "gpus": 1},
    figure="results/figures/flyt/{flyt}.png",
    module=__name__,
)

register(Trainer(
    name="train_mflyt",
    label="M-FLYT run",
    select=lambda run: run.get("scorer") == "mixer",
    select_doc="scorer: mixer",
    inputs={**_COMMON_INPUTS, "scores": ScoreFiles("inputs")},
    outputs={
        "mixer": "results/flyt/{flyt}/mixer.json",
        "weights": "results/flyt/{flyt}/weights.csv",
        "info": "results/flyt/{flyt}/train_info.json",
    },
    reports={"weights": {"caption": "weights.rst", "subcategory": "FLYT scoring models",
                         "labels": {"run": "{flyt}", "item": "learned weights (CSV)"}}},
    **_COMMON,
))

register(Trainer(
    name="train_eflyt",
    label="E-FLYT run",
    select=lambda run: run.get("scorer") == "embedding",
    select_doc="scorer: embedding",
    inputs={**_COMMON_INPUTS, "embedder": ModelWeights("embed_model")},
    outputs={
        "head": "results/flyt/{flyt}/head.pt",
        "info": "results/flyt/{flyt}/train_info.json",
    },
    **_COMMON,
))
