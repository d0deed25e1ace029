"""Digit enhancement ("The Devil is in the Details", §3.3): the earlier stages (aligned to ImageNet by
CIDS) drop most images of digits, which costs the digit tasks (MNIST, SVHN); the paper asks BLIP-2
whether each image shows digits and puts those samples back, for +19.8 % on digit recognition.

Two methods, one enhancement (:func:`enhance`, the parameters ``mode`` and ``weight`` checked by
:func:`check_enhancement`); each reads the previous stage (``base``: its keep or count column):

* ``digits`` (tiny world): the ``digit_detector`` trainer's head over the reference model's image
  embeddings (``digit_detectors.<detector>``) gives P(digit) per pool sample; a sample is a digit
  sample when P(digit) >= ``threshold``;
* ``digits_blip2`` (real scale, the paper's detector): BLIP-2 from the local folder the entry names
  under ``blip2`` (:func:`clipcurate.scores.helpers.digit_detect.load_blip2`, ``from_pretrained``) is
  asked ``prompt`` about each of the chunk's images (an ``Images`` input; greedy decoding of
  ``max_new_tokens`` tokens, :func:`~clipcurate.scores.helpers.digit_detect.ask_blip2`), and a sample is
  a digit sample when the answer's first word is "yes". Our reading: the paper keeps the samples
  BLIP-2 says yes to, a decision, not a probability, so ``score`` is that decision (1.0 yes, 0.0
  otherwise) and there is no threshold; ``answer`` keeps the parse (1 yes, 0 no, -1 neither: counted
  as no, -2 an image that does not decode: no, as the embedding stage zeroes such an image). Every
  row is asked, also those whose count the mode cannot change, so that ``score`` describes the pool.
  ``device: auto`` runs on CUDA when there is one (``dtype: auto``: float16 there, float32 on CPU).

``mode``:

* ``add_back``: digit samples the base dropped come back with ``weight`` copies; the base's own
  samples keep their counts (the paper's reading: the retrieved digit samples are added);
* ``upweight``: digit samples the base kept get ``weight`` times their count; dropped ones stay out.

Outputs: ``count`` (repeat counts for ``sample: {method: counts}``), ``keep`` (count > 0) and
``score`` (``digits``: P(digit); ``digits_blip2``: the yes decision, and ``answer``).
"""

from __future__ import annotations

import re

import numpy as np

from clipcurate.scores.helpers import alignment as A
from clipcurate.scores import register
from clipcurate.scores.helpers.digit_detect import DEFAULT_PROMPT
from clipcurate.scores.inputs import Artifact, Embeddings, Images, Scores
from clipcurate.scores.stages import Resources

MODES = ("add_back", "upweight")


def check_enhancement(entry, config, key):
    """The previous stage (``base``) and the enhancement's ``mode`` and ``weight``, of both methods."""
    A.check_base(entry, config, key)
    p = entry.get("params") or {}
    if p.get("mode", "add_back") not in MODES:
        raise ValueError(f"config: {key}.params.mode: expected one of {list(MODES)}, got {p.get('mode')!r}")
    w = p.get("weight", 1)
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
        raise ValueError(f"config: {key}.params.weight: expected a positive integer (copies), got {w!r}")


def check(entry, config, key):
    check_enhancement(entry, config, key)
    p = entry.get("params") or {}
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


# --------------------------------------------------------------------------------------------
# real scale: BLIP-2's answers

_BLIP2_DEFAULTS = {"mode": "add_back", "weight": 1, "prompt": DEFAULT_PROMPT, "batch_size": 32, "max_new_tokens": 3,
                   "device": "auto", "dtype": "auto"}
_DTYPES = ("auto", "float32", "float16", "bfloat16")


def check_blip2(entry, config, key):
    """The enhancement's parameters, BLIP-2's (prompt, batch, tokens, device, dtype) and the model
    folder: a path; when it exists it must hold a ``save_pretrained`` checkpoint (``config.json``).
    A folder not there yet is left to the workflow, which names it as the score job's missing input."""
    from pathlib import Path

    check_enhancement(entry, config, key)
    p = {**_BLIP2_DEFAULTS, **(entry.get("params") or {})}
    folder = entry.get("blip2")
    if not isinstance(folder, str) or not folder:
        raise ValueError(f"config: {key}.blip2: {folder!r}; expected the path of a local BLIP-2 folder "
                         "(save_pretrained of e.g. Salesforce/blip2-opt-2.7b)")
    if Path(folder).exists() and not (Path(folder) / "config.json").is_file():
        raise ValueError(f"config: {key}.blip2: {folder} has no config.json; expected a local BLIP-2 folder "
                         "(save_pretrained of e.g. Salesforce/blip2-opt-2.7b)")
    if not isinstance(p["prompt"], str) or not p["prompt"].strip():
        raise ValueError(f"config: {key}.params.prompt: expected a non-empty question to BLIP-2, got {p['prompt']!r}")
    for name in ("batch_size", "max_new_tokens"):
        v = p[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"config: {key}.params.{name}: expected a positive integer, got {v!r}")
    if not isinstance(p["device"], str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", p["device"]):
        raise ValueError(f"config: {key}.params.device: expected auto, cpu, cuda or cuda:<n>, got {p['device']!r}")
    if p["dtype"] not in _DTYPES:
        raise ValueError(f"config: {key}.params.dtype: expected one of {list(_DTYPES)}, got {p['dtype']!r}")


def blip2_device(device: str, dtype: str) -> tuple[str, str]:
    """``auto`` resolved: CUDA when there is one; float16 on a GPU, float32 on the CPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else "float16"
    return device, dtype


@register(
    "digits_blip2",
    level="chunk",
    inputs={"images": Images(), "blip2": Artifact("{blip2}"), "base": Scores(key="base")},
    outputs=("count", "keep", "score", "answer"),
    defaults=_BLIP2_DEFAULTS,
    check=check_blip2,
    # BLIP-2 OPT-2.7b: 3.9B parameters, 7.7 GB in float16 on the GPU; its float32 checkpoint passes
    # through host memory on loading. A chunk of 1M images takes about 105 min on an A100 at the
    # README's estimate (159 images/s: benchmarks/bench_devil_align.py blip2), hence 480
    resources={"apply": Resources(mem_mb=32000, runtime=480, threads=8, gpu=1)},
)
def digits_blip2(params: dict, images, blip2: str, base: dict) -> dict[str, np.ndarray]:
    """BLIP-2's yes / no per row (see the module's docstring) and the enhanced counts."""
    from clipcurate.scores.helpers import digit_detect as D

    b = A.single_base(base, "digits_blip2: base")
    if len(b) != len(images):
        raise A.AlignmentError(f"digits_blip2: base has {len(b)} rows, the chunk {len(images)}")
    device, dtype = blip2_device(params["device"], params["dtype"])
    model, processor = D.load_blip2(blip2, device=device, dtype=dtype)
    answer = np.full(len(images), -2, np.int8)  # -2: the image does not decode
    batch = int(params["batch_size"])
    for start, ims, _ in images.batches(batch):
        ok = [i for i, im in enumerate(ims) if im is not None]
        if ok:
            _, parsed = D.ask_blip2(model, processor, [ims[i] for i in ok], prompt=params["prompt"],
                                    max_new_tokens=int(params["max_new_tokens"]), batch_size=batch)
            answer[start + np.asarray(ok)] = parsed
    digit = answer == 1
    count = enhance(b, digit, params["mode"], int(params["weight"]))
    return {"count": count, "keep": count > 0, "score": digit.astype(np.float32), "answer": answer.astype(np.float32)}
