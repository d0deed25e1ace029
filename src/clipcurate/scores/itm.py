"""ITM score: the probability that an image and its caption match (the "Devil is in the Details"
paper's cross-modality filter beside the flipped CLIP score; :mod:`clipcurate.itm`).

On the tiny world the ``itm`` method reads the tiny ITM head ``results/itm/{itm}/head.pt`` (trainer
``itm``: a matching head over a frozen CLIP's embeddings, trained with hard negatives on the HQ
set) and the pool embeddings of the score's ``model``, which must be the head's. At real scale the
same probability comes from BLIP's ITM head (:func:`clipcurate.itm.load_blip_itm`,
``softmax(itm_score)[:, 1]``), which reads the pool's images, not embeddings.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings


def check_itm(entry, config, key):
    """The head reads the embeddings of the score's ``model`` (that the head exists is checked by the
    planner, from the trainer that writes it)."""
    heads = config.get("itm") or {}
    name = entry.get("itm")
    if name in heads and entry.get("model") != heads[name]["model"]:
        raise ValueError(
            f"config: {key}.model ({entry.get('model')!r}) must be the ITM head's embedding model "
            f"itm.{name}.model ({heads[name]['model']!r})"
        )


@register(
    "itm",
    level="chunk",
    inputs={"emb": Embeddings(model_key="model"), "head": Artifact("results/itm/{itm}/head.pt")},
    outputs=("score",),
    check=check_itm,
)
def itm_score(params: dict, emb: dict, head: str) -> dict[str, np.ndarray]:
    """The head's ITM probability per row, in [0, 1] (higher = a better match)."""
    from clipcurate.itm import head_probability, load_head

    return {"score": head_probability(load_head(head), emb["image"], emb["text"])}
