"""E-FLYT score: a trained FLYT GLU head over a chunk's frozen [image, text] CLIP embeddings.

The head is the artifact ``results/flyt/{flyt}/head.pt`` made by the ``train_eflyt`` trainer
(:mod:`clipcurate.train.trainers.flyt`, :func:`clipcurate.train.flyt.run.train_run`); the score's ``model`` must be the head's embedding model,
so that the stored embeddings are the features it was trained on (checked at planning time).

``eflyt_import`` applies a head trained in another working directory, not retrained: FLYT Table 4
scores DataComp small with the medium run's E-FLYT (as ``mflyt_import`` reuses its mixer). ``head``
is that run's ``head.pt``; the head file records its embedding model's spec, and a score whose
``model`` has another architecture is refused before any row is scored.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings


def check_eflyt(entry, config, key):
    """The E-FLYT run named by ``flyt`` reads the embeddings of the score's ``model`` (that it exists
    and is an E-FLYT run is checked by the planner, from the trainer that writes the head)."""
    run = config["flyt"]["runs"][entry["flyt"]]
    if entry.get("model") != run.get("embed_model"):
        raise ValueError(
            f"config: {key}.model ({entry.get('model')!r}) must be the E-FLYT head's embedding model "
            f"flyt.runs.{entry['flyt']}.embed_model ({run.get('embed_model')!r})"
        )


@register(
    "eflyt",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "head": Artifact("results/flyt/{flyt}/head.pt")},
    outputs=("score",),
    check=check_eflyt,
)
def eflyt(params: dict, emb: dict, head: str) -> dict[str, np.ndarray]:
    """Apply the trained head to every row of the chunk."""
    from clipcurate.train.flyt.run import head_scores, load_head  # torch: import only when scoring

    return {"score": head_scores(load_head(head), emb["image"], emb["text"])}


def check_eflyt_import(entry, config, key):
    """``head`` is a file that this working directory does not train itself (then ``eflyt`` is the method),
    trained on embeddings of the score's ``model``'s architecture (read from the file: torch, only here)."""
    from clipcurate.train import trainers

    path = trainers.check_imported(entry.get("head"), f"{key}.head", "eflyt_import", "a trained E-FLYT run's head.pt",
                                   "a head", "results/flyt/eflyt/head.pt", use_instead="use method 'eflyt' with flyt: <run>, or ")
    import torch

    try:
        head_spec = torch.load(path, map_location="cpu", weights_only=True).get("embed_spec")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same config error
        raise ValueError(f"config: {key}.head: {path} is not an E-FLYT head.pt ({type(e).__name__}: {e})") from None
    model = (config.get("models") or {}).get(entry.get("model")) or {}
    check_head_model(f"config: {key}.head: {path}", head_spec, model)


def check_head_model(head_path: str, head_spec, model_spec) -> None:
    """The imported head was trained on the features of the score's model: the same architecture
    (the pretrained weights' path may differ between working directories)."""
    if not head_spec or not model_spec:
        return
    want, got = dict(head_spec).get("arch"), dict(model_spec).get("arch")
    if want and got and want != got:
        raise ValueError(f"{head_path}: the E-FLYT head was trained on {want} embeddings, but the score's model is "
                         f"{got}; set the score's model to the head's embedding model")


@register(
    "eflyt_import",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "head": Artifact("{head}")},
    outputs=("score",),
    check=check_eflyt_import,
)
def eflyt_import(params: dict, emb: dict, head: str) -> dict[str, np.ndarray]:
    """Apply an imported head to every row of the chunk (its [image, text] width is checked there)."""
    from clipcurate.train.flyt.run import head_scores, load_head

    return {"score": head_scores(load_head(head), emb["image"], emb["text"])}
