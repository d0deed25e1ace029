"""Is there a downstream signal for the meta-gradient to follow? A check on a FLYT run's history.

FLYT's scorer learns only through the change that a weighted upstream step makes to the reference
model's downstream loss. With the zero-shot cross entropy that loss is ``ln C`` (C classes) when the
reference model cannot tell the classes apart. On the tiny world the M-FLYT runs whose no-filter
reference model started at ``ln C`` learned weights that were mostly noise, and M-FLYT lost to the
Standardized Sum on that seed; on the seeds where the loss started below ``ln C`` it won (README,
"Statistical power"). This module records that condition in ``train_info.json`` and the run's log.
It changes nothing in training: it says whether a table row built on the run can be read.

The rule, on the per-step downstream losses (one per FLYT step, so neighbouring steps share no
batch): the first and last fifth of the steps (at least ``min_steps`` each) are averaged, each with
its standard error sd / sqrt(n). The reference starts **above chance** when ``ln C`` exceeds the
first mean by more than ``z`` standard errors, and the loss **moved** when the first mean exceeds the
last by more than ``z`` standard errors of their difference.

Which loss is judged how:

* ``ce`` (``tau_DS = 1``: logits are cosines, so the loss stays within about one nat of ``ln C`` and
  exceeds it only when the model prefers wrong classes): **above chance** as above.
* ``ce_temperature`` (``tau_DS`` learned from 1 / 0.07): the reference is **over-confident** when
  its first mean exceeds ``ln C`` by more than ``z`` standard errors. At that temperature a model
  that barely tells the classes apart loses more than a uniform guess, and the quickest way down
  for the look-ahead loss is to flatten the reference's class logits: the meta-gradient then rewards
  the samples that do that. On the tiny world E-FLYT-Base's reference (the OpenAI analogue, 16-20 %
  zero-shot on the 10 downstream classes) starts at 2.4-3.5 nats against ln 10 = 2.30, and its head
  ranks misaligned and uninformative pairs above clean ones (README, "E-FLYT on the tiny world").
  ``tau_DS`` cannot rescue it within a run: AdamW moves it by about the learning rate per step.
* ``clip``: chance depends on the batch; not judged.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["downstream_signal", "signal_message"]

#: the downstream losses whose chance level is ln C (see the module doc)
CHANCE_LOSSES = ("ce", "ce_temperature")


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan


def downstream_signal(losses: Sequence[float], classes: int, kind: str = "ce", *, z: float = 2.0,
                      share: float = 0.2, min_steps: int = 3) -> dict:
    """The start and end of a run's downstream loss against chance (``ln classes``); see the module doc.

    Returns ``chance`` (``ln classes``; None for the ``clip`` loss), ``start`` / ``start_se``, ``end`` /
    ``end_se`` (means of the first and last ``share`` of the finite losses), ``steps_each`` and the
    verdicts ``above_chance`` (``ce`` only), ``over_confident`` (``ce_temperature`` only) and ``moved``;
    a verdict is None where it is not judged, and all are None when fewer than ``2 * min_steps``
    finite losses were recorded.
    """
    x = np.asarray([v for v in losses if v is not None and math.isfinite(v)], dtype=float)
    chance = math.log(classes) if kind in CHANCE_LOSSES and classes >= 2 else None
    k = max(min_steps, int(len(x) * share))
    out = {"chance": chance, "z": z, "steps_each": k if len(x) >= 2 * min_steps else 0,
           "start": None, "start_se": None, "end": None, "end_se": None, "above_chance": None,
           "over_confident": None, "moved": None}
    if len(x) < 2 * min_steps:
        return out
    start, start_se = _mean_se(x[:k])
    end, end_se = _mean_se(x[-k:])
    out.update(start=start, start_se=start_se, end=end, end_se=end_se,
               moved=bool(start - end > z * math.hypot(start_se, end_se)))
    if chance is None:
        return out
    if kind == "ce":
        out["above_chance"] = bool(chance - start > z * start_se)
    else:  # ce_temperature
        out["over_confident"] = bool(start - chance > z * start_se)
    return out


def signal_message(sig: dict) -> str | None:
    """A warning for the run's log when the reference model starts at chance (``ce``) or above it
    (``ce_temperature``); ``None`` otherwise."""
    if sig.get("over_confident"):
        return (f"FLYT: the reference model's downstream loss with the learned temperature starts above chance "
                f"({sig['start']:.4f} ± {sig['start_se']:.4f} over the first {sig['steps_each']} steps, ln C = "
                f"{sig['chance']:.4f}): it is over-confident on the downstream task, and the meta-gradient rewards "
                "samples that flatten its class logits, so the scorer may prefer bad pairs (on the tiny world "
                "E-FLYT-Base ranked misaligned pairs above clean ones). The plain CE loss, or a reference model "
                "that knows the downstream task, may help.")
    if sig.get("above_chance") is not False:
        return None
    return (f"FLYT: the reference model's downstream loss starts at chance ({sig['start']:.4f} ± {sig['start_se']:.4f} "
            f"over the first {sig['steps_each']} steps, ln C = {sig['chance']:.4f}): the meta-gradient has little to "
            "follow, so the scorer's weights may be mostly noise (on the tiny world M-FLYT lost to the Standardized "
            "Sum on the seed where this happened). A reference model that is better than chance downstream, or more "
            "steps, may help.")
