"""Digit enhancement ("The Devil is in the Details", §3.3): the earlier stages (aligned to ImageNet by
CIDS) drop most images of digits, which costs the digit tasks (MNIST, SVHN); the paper asks BLIP-2
whether each image shows digits and puts those samples back, for +19.8 % on digit recognition.

This method reads the previous stage (``base``: its keep or count column) and a digit detector's
P(digit) per pool sample (on the tiny world the ``digit_detector`` trainer's logistic regression over
the reference model's image embeddings, ``digit_detectors.<detector>``; the BLIP-2 loader and prompt
for real scale are :func:`clipcurate.scores.helpers.digit_detect.load_blip2` / :func:`~clipcurate.scores.helpers.digit_detect.ask_blip2`).
A sample is a digit sample when P(digit) >= ``threshold``. ``mode``:

* ``add_back``: digit samples the base dropped come back with ``weight`` copies; the base's own
  samples keep their counts (the paper's reading: the retrieved digit samples are added);
* ``upweight``: digit samples the base kept get ``weight`` times their count; dropped ones stay out.

Outputs: ``count`` (repeat counts for ``sample: {method: counts}``), ``keep`` (count > 0) and
``score`` (P(digit)).
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import alignment as A
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings, Scores

MODES = ("add_back", "upweight")


def check(entry, config, key):
    A.check_base(entry, config, key)
    p = entry.get("params") or {}
    if p.get("mode", "add_back") not in MODES:
        raise ValueError(f"config: {key}.params.mode: expected one of {list(MODES)}, got {p.get('mode')!r}")
    w = p.get("weight", 1)
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise ValueError(f"config: {key}.params.weight: expected a positive integer (copies), got {w!r}")
    t = p.get("threshold", 0.5)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
        raise ValueError(f"config: {key}.params.threshold: expected a probability in (0, 1), got {t!r}")
    det = (config.get("digit_detectors") or {}).get(entry.get("detector"))
    if det is not None and det.get("model") != entry.get("model"):
        raise ValueError(f"config: {key}.model ({entry.get('model')!r}) must be the detector's embedding model "
                         f"digit_detectors.{entry.get('detector')}.model ({det.get('model')!r})")


def enhance(base_counts, digit, mode: str, weight: int) -> np.ndarray:
    """Repeat counts after digit enhancement (see the module's docstring)."""
    b = A.base_counts(base_counts)
    digit = np.asarray(digit, dtype=bool)
    if mode == "add_back":
        return np.where((b == 0) & digit, np.uint32(weight), b).astype(np.uint32)
    if mode == "upweight":
        return np.where(digit, b * np.uint32(weight), b).astype(np.uint32)
    raise A.AlignmentError(f"digits: unknown mode {mode!r}; expected one of {list(MODES)}")


@register(
    "digits",
    level="chunk",
    inputs={
        "emb": Embeddings(model_key="model", variant="plain", variant_key=None, modalities=("image",)),
        "detector": Artifact("results/digit_detectors/{detector}/detector.npz"),
        "base": Scores(key="base"),
    },
    outputs=("count", "keep", "score"),
    defaults={"mode": "add_back", "weight": 1, "threshold": 0.5},
    check=check,
)
def digits(params: dict, emb: dict, detector: str, base: dict) -> dict[str, np.ndarray]:
    """P(digit) of each sample and the enhanced counts."""
    from clipcurate.scores.helpers import digit_detect as D

    b = A.single_base(base, "digits: base")
    p = D.detector_probability(emb["image"], D.load_detector(detector))
    count = enhance(b, p >= float(params["threshold"]), params["mode"], int(params["weight"]))
    return {"count": count, "keep": count > 0, "score": p}
