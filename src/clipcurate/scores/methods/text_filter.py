"""DataComp's text-based filter: an English caption (fastText lid.176) with at least one word whose
first WordNet synset is an ImageNet-21k class (:mod:`clipcurate.scores.helpers.wordnet` describes the exact rule).

The class list is ``wnids``: a text file with one wnid (``n02084071``) per line, DataComp's
``imagenet21k_wordnet_ids.txt`` at real scale (a path relative to the working directory). Or
``classnames``: a file of class names (one per line), each mapped to its first noun synset. With
neither, the tiny world's downstream class names (its ImageNet analogue's shapes) stand in for the
21k classes; a real pool must name a list (checked when the workflow starts).
``wordnet`` is the WordNet 3.0 database directory (null: ``$CLIPCURATE_WORDNET`` or
``/usr/share/wordnet``, where Debian's ``wordnet-base`` installs it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores.helpers import langid
from clipcurate.scores.helpers import wordnet as W
from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata


def class_offsets(params: dict, wn) -> set[int]:
    """Synset offsets of the class list the parameters name (see the module docstring)."""
    if params.get("wnids"):
        return W.read_wnids(params["wnids"])
    if params.get("classnames"):
        p = Path(params["classnames"])
        if not p.is_file():
            raise W.WordNetError(f"classnames: {p} does not exist; expected one class name per line")
        names = [s.strip() for s in p.read_text().splitlines() if s.strip()]
    else:
        from clipcurate.world.concepts import SHAPES

        names = list(SHAPES)  # the tiny world's downstream classes (its classnames.txt)
    return {int(w[1:]) for w in W.class_wnids(names, wn)}


def _check(entry, config, key):
    params = entry.get("params") or {}
    if params.get("wnids") and params.get("classnames"):
        raise ValueError(f"config: {key}.params: give wnids or classnames, not both")
    if config["pool"]["source"] != "world" and not (params.get("wnids") or params.get("classnames")):
        raise ValueError(
            f"config: {key}.params.wnids: a real pool needs the ImageNet-21k class list "
            "(a file with one wnid per line, e.g. DataComp's imagenet21k_wordnet_ids.txt)"
        )


@register(
    "text_based",
    level="chunk",
    inputs={"meta": Metadata(columns=("text",))},
    outputs=("keep",),
    defaults={"wnids": None, "classnames": None, "wordnet": None, "lid_model": None, "threads": 1},
    check=_check,
)
def text_based(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep mask: English and some word's first synset is one of the classes."""
    wn = W.open_wordnet(params["wordnet"])
    offsets = class_offsets(params, wn)
    texts = meta.column("text").to_pylist()
    entity = W.entity_mask(texts, offsets, wn)
    keep = F.english_where(texts, entity, langid.load_model(params["lid_model"]), int(params["threads"]))
    return {"keep": entity & keep}
