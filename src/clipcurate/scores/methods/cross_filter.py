"""Cross-modality filtering of the "Devil is in the Details" paper: the flipped CLIP score and the
ITM probability, combined into one keep decision.

The paper removes samples whose flipped CLIP score is below 0.19 and uses BLIP's ITM score to
remove more; how the two combine is not given. ``params.combine`` chooses, over the ``inputs``
(score names, in order, e.g. ``[clip_score_hflip, itm]``):

* ``and`` (the default; the reading that each filter "removes" samples, applied one after the
  other, which is the intersection): a sample is kept when **every** input passes its own cut;
* ``or``: kept when **any** input passes its cut (each filter alone may vouch for a sample);
* ``zsum``: the inputs are standardised over the pool (z-scores) and summed, and the top
  ``fraction`` of the sum is kept (:func:`clipcurate.sample.topk.top_fraction_mask`): a mix, where
  a strong ITM match can compensate a weak flipped score.

Each input's cut (``and``/``or``) is ``thresholds[i]`` (an absolute value: 0.19 for the flipped
CLIP score at real scale) or ``fractions[i]`` (the score at index floor(N f) of the pool sorted in
descending order, DataComp's ``get_threshold``, as :mod:`clipcurate.scores.methods.datacomp_clip`); per input
exactly one of the two is non-null. The ``score`` column is the z-sum in every mode, for ranking.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores import register
from clipcurate.scores.inputs import Scores

COMBINE = ("and", "or", "zsum")


def _refs(entry):
    refs = entry.get("inputs")
    return [refs] if isinstance(refs, str) else list(refs or [])


def _check(entry, config, key):
    p = {**{"combine": "and", "thresholds": None, "fractions": None, "fraction": None}, **(entry.get("params") or {})}
    refs = _refs(entry)
    if len(refs) < 2:
        raise ValueError(f"config: {key}.inputs: expected two or more scores (e.g. [clip_score_hflip, itm]), got {refs}")
    if p["combine"] not in COMBINE:
        raise ValueError(f"config: {key}.params.combine: expected one of {list(COMBINE)}, got {p['combine']!r}")
    if p["combine"] == "zsum":
        if p["fraction"] is None or not (0 < float(p["fraction"]) <= 1):
            raise ValueError(f"config: {key}.params.fraction: combine zsum keeps the top fraction of the sum; expected a number in (0, 1], got {p['fraction']!r}")
        return
    cuts = cut_list(p, len(refs), key)
    for i, (t, f) in enumerate(cuts):
        if f is not None and not (0 < float(f) < 1):
            raise ValueError(f"config: {key}.params.fractions[{i}]: expected a number in (0, 1), got {f!r}")


def cut_list(params, n: int, key: str = "cross_filter") -> list[tuple]:
    """Per input ``(threshold, fraction)``, exactly one of them set."""
    th = params.get("thresholds") or [None] * n
    fr = params.get("fractions") or [None] * n
    if len(th) != n or len(fr) != n:
        raise ValueError(f"config: {key}.params: thresholds and fractions need one value (or null) per input ({n}), "
                         f"got {len(th)} and {len(fr)}")
    for i, (t, f) in enumerate(zip(th, fr)):
        if (t is None) == (f is None):
            raise ValueError(f"config: {key}.params: input {i} needs exactly one of thresholds[{i}] and fractions[{i}], got {t!r} and {f!r}")
    return list(zip(th, fr))


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the pool, in float64 (a constant input gives zeros)."""
    x = np.asarray(x, np.float64)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


@register(
    "cross_filter",
    level="pool",
    inputs={"scores": Scores(key="inputs")},
    outputs=("score", "keep"),
    defaults={"combine": "and", "thresholds": None, "fractions": None, "fraction": None},
    check=_check,
)
def cross_filter(params: dict, scores: dict) -> dict[str, np.ndarray]:
    """Keep by ``params.combine`` over the inputs' cuts; ``score`` = the sum of their z-scores."""
    from clipcurate.sample.topk import top_fraction_mask

    # the cuts compare the scores in their own dtype, as clip_threshold does (float32 0.19 >= 0.19)
    values = [np.asarray(v) for v in scores.values()]
    zsum = np.sum([zscore(v) for v in values], axis=0)
    if params["combine"] == "zsum":
        keep = top_fraction_mask(zsum, float(params["fraction"]))
    else:
        passes = [F.threshold_keep(v, t, f) for v, (t, f) in zip(values, cut_list(params, len(values)))]
        keep = np.logical_and.reduce(passes) if params["combine"] == "and" else np.logical_or.reduce(passes)
    return {"score": zsum.astype(np.float32), "keep": np.asarray(keep, bool)}
