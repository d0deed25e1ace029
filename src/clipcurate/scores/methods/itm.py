"""ITM score: the probability that an image and its caption match (the "Devil is in the Details"
paper's cross-modality filter beside the flipped CLIP score; :mod:`clipcurate.scores.helpers.itm`).

On the tiny world the ``itm`` method reads the tiny ITM head ``results/itm/{itm}/head.pt`` (trainer
``itm``: a matching head over a frozen CLIP's embeddings, trained with hard negatives on the HQ
set) and the pool embeddings of the score's ``model``, which must be the head's. At real scale the
same probability comes from BLIP's ITM head, the ``itm_blip`` method: the model folder the entry
names under ``blip`` (``from_pretrained`` of a local folder, :func:`clipcurate.scores.helpers.itm.load_blip_itm`)
run on the chunk's images and captions (an ``Images`` input), ``softmax(itm_score)[:, 1]``; an image
that does not decode scores 0 (removed by any ITM cut), as the embedding stage gives it a zero vector.
A scale file switches the ITM score a recipe uses by naming ``itm_blip`` where the tiny world names
``itm`` (config/scales/*.yaml: ``flip_itm.inputs``).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.stages import Resources
from clipcurate.scores.inputs import Artifact, Embeddings, Images


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
    from clipcurate.scores.helpers.itm import head_probability, load_head

    return {"score": head_probability(load_head(head), emb["image"], emb["text"])}


@register(
    "itm_blip",
    level="chunk",
    inputs={"images": Images(), "blip": Artifact("{blip}")},
    outputs=("score",),
    defaults={"batch_size": 64, "max_length": 35},
    resources={"apply": Resources(mem_mb=16000, runtime=240, threads=8, gpu=1)},
)
def itm_blip(params: dict, images, blip: str) -> dict[str, np.ndarray]:
    """BLIP's ITM probability per row, in [0, 1]; 0 for an image that does not decode."""
    import torch

    from clipcurate.scores.helpers.itm import blip_itm_probability, load_blip_itm

    model, processor = load_blip_itm(blip, device="cuda" if torch.cuda.is_available() else "cpu")
    out = np.zeros(len(images), np.float32)
    for start, ims, texts in images.batches(int(params["batch_size"])):
        ok = [i for i, im in enumerate(ims) if im is not None]
        if ok:
            p = blip_itm_probability(model, processor, [ims[i] for i in ok], [texts[i] for i in ok],
                                     batch_size=int(params["batch_size"]), max_length=int(params["max_length"]))
            out[start + np.asarray(ok)] = p
    return {"score": out}
