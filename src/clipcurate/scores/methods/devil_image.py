"""The image rules of "The Devil is in the Details" (single-modality filtering), from DataComp's
metadata alone: the aspect ratio and the face-area ratio. Both write ``keep`` and a ``score``
(higher is better: the negated ratio), so a recipe may also rank by them;
``config/scores/devil_rules.yaml`` configures them and ``devil_image_rules`` intersects them.

* ``aspect_ratio``: ``max(w/h, h/w) <= max_aspect`` of ``original_width``/``original_height``.
* ``face_area``: the union area of the ``face_bboxes`` boxes (normalised ``[x0, y0, x1, y1]``, DataComp's
  SCRFD detections) over the image area ``<= max_face_area``. Why the union and not the sum:
  :mod:`clipcurate.scores.helpers.devil_rules`. The column is checked when it is read
  (:func:`clipcurate.pool.metadata_check.check_table`: each row a list of four-number boxes), so a bad
  entry names the metadata file, its row and the column.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores.helpers import devil_rules as R
from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata


def _check_number(key: str, params: dict, name: str, lo: float, hi: float | None = None):
    v = params.get(name)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
    if not ok:
        raise ValueError(f"config: {key}.params.{name}: {v!r}; expected a number in [{lo}, {hi if hi is not None else 'inf'}]")


_ASPECT_DEFAULTS = {"max_aspect": 3.0}


def _check_aspect(entry, config, key):
    _check_number(key, {**_ASPECT_DEFAULTS, **(entry.get("params") or {})}, "max_aspect", 1.0)


@register("aspect_ratio", level="chunk", inputs={"meta": Metadata(columns=("original_width", "original_height"))},
          outputs=("score", "keep"), defaults=_ASPECT_DEFAULTS, check=_check_aspect)
def aspect_ratio(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep ``max(w/h, h/w) <= max_aspect``; score = minus the ratio (a missing size: -inf, not kept)."""
    ratio = R.aspect_ratios(meta.column("original_width").to_numpy(zero_copy_only=False).astype(np.float64),
                            meta.column("original_height").to_numpy(zero_copy_only=False).astype(np.float64))
    score = np.where(np.isfinite(ratio), -ratio, np.finfo(np.float32).min).astype(np.float32)
    return {"score": score, "keep": ratio <= float(params["max_aspect"])}


_FACE_DEFAULTS = {"max_face_area": 0.5}


def _check_face(entry, config, key):
    _check_number(key, {**_FACE_DEFAULTS, **(entry.get("params") or {})}, "max_face_area", 0.0, 1.0)


@register("face_area", level="chunk", inputs={"meta": Metadata(columns=("face_bboxes",))},
          outputs=("score", "keep"), defaults=_FACE_DEFAULTS, check=_check_face)
def face_area(params: dict, meta) -> dict[str, np.ndarray]:
    """Keep a face-box union area ratio ``<= max_face_area``; score = minus the ratio."""
    ratio = R.face_area_ratios(meta.column("face_bboxes"))
    return {"score": (-ratio).astype(np.float32), "keep": ratio <= float(params["max_face_area"])}
