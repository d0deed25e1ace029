"""Binary-classifier score (the DFN paper's classifier backbone, Table 1): the logit of a linear
classifier trained to tell a reference set's samples (positive; the HQ set) from the pool's, over
frozen embeddings of one model.

The classifier is the artifact ``results/classifiers/{classifier}/classifier.pt`` made by the
``train_classifier`` rule (config ``classifiers:``; :func:`clipcurate.scores.helpers.classifier.train_binary_classifier`);
the score's ``model`` must be the classifier's, so that the stored embeddings are its features
(checked at planning time).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings


def check_classifier(entry, config, key):
    """The named classifier reads the embeddings of the score's ``model`` (that it exists is checked
    by the planner, from the trainer that writes it)."""
    classifiers = config.get("classifiers") or {}
    name = entry.get("classifier")
    if entry.get("model") != classifiers[name]["model"]:
        raise ValueError(
            f"config: {key}.model ({entry.get('model')!r}) must be the classifier's embedding model "
            f"classifiers.{name}.model ({classifiers[name]['model']!r})"
        )


@register(
    "binary_classifier",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "classifier": Artifact("results/classifiers/{classifier}/classifier.pt")},
    outputs=("score",),
    check=check_classifier,
)
def binary_classifier(params: dict, emb: dict, classifier: str) -> dict[str, np.ndarray]:
    """The classifier's logit per row (higher = more like the positive set)."""
    from clipcurate.scores.helpers.classifier import binary_classifier_score

    return binary_classifier_score(params, emb, classifier)
