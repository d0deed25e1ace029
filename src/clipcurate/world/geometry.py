"""The served images' geometry: ``original_width`` / ``original_height`` and their aspect ratios.

DataComp's ``original_width`` / ``original_height`` are the sizes of the images at their URLs, and its
basic filter keeps aspect ratios <= 3 (:mod:`clipcurate.scores.helpers.datacomp_filters`). The world serves:

* most samples square (``native_size``) or, for ``non_square_fraction`` of them, on a common photo
  canvas (4:3, 3:2, 16:9 or their transposes) with the scene centred and the edges extended, so that
  img2dataset's ``center_crop`` at download recovers the scene (these must pass an aspect rule);
* the ``bad_geometry`` kind: images squashed to extreme aspect ratios (10:1, 16:1), shrunk below the
  minimum side, or centred on extreme panorama canvases (4:1, 5:1); :func:`aspect_ratio` > 3 for
  all but the shrunk ones, so an aspect-ratio rule has a measured share to remove.

The truth records each served image's ``aspect`` (long side / short side) and ``geometry``.
"""

from __future__ import annotations

import numpy as np

#: (w : h) of the non-square canvases of normal samples
PHOTO_ASPECTS: tuple[tuple[int, int], ...] = ((4, 3), (3, 4), (3, 2), (2, 3), (16, 9), (9, 16))
#: bad_geometry: ("resize", w, h) squashes or shrinks the scene; ("canvas", w, h) centres it on a panorama
BAD_GEOMETRIES: tuple[tuple[str, int, int], ...] = (
    ("resize", 256, 16), ("resize", 16, 256), ("resize", 200, 20), ("resize", 20, 200),
    ("resize", 8, 8), ("resize", 12, 12), ("resize", 10, 10),
    ("canvas", 256, 64), ("canvas", 64, 256), ("canvas", 320, 64), ("canvas", 64, 320),
)
#: DataComp's basic-filter limit
MAX_ASPECT = 3.0


def aspect_ratio(width: float, height: float) -> float:
    """Long side over short side (DataComp's ``max(w, h) / min(w, h)``)."""
    return max(width, height) / min(width, height)


def photo_canvas(rng: np.random.Generator, size: int, fraction: float) -> tuple[int, int] | None:
    """A canvas (w, h) for a normal sample, or None (square) with probability ``1 - fraction``."""
    if rng.random() >= fraction:
        return None
    a, b = PHOTO_ASPECTS[int(rng.integers(len(PHOTO_ASPECTS)))]
    return (round(size * a / b), size) if a > b else (size, round(size * b / a))


def geometry_label(width: int, height: int, min_side: int) -> str:
    """``square`` | ``photo`` (aspect <= 3) | ``extreme`` (aspect > 3) | ``small`` (a side < min_side)."""
    if min(width, height) < min_side:
        return "small"
    if width == height:
        return "square"
    return "extreme" if aspect_ratio(width, height) > MAX_ASPECT else "photo"


def box_on_canvas(box: list[float], size: int, width: int, height: int) -> list[float]:
    """A box normalised to the ``size``-square scene, renormalised to the scene centred on a
    ``width`` x ``height`` canvas (the offsets of :func:`clipcurate.world.render.extend_canvas`)."""
    x_off, y_off = (width - size) // 2, (height - size) // 2
    x0, y0, x1, y1 = box
    return [(x0 * size + x_off) / width, (y0 * size + y_off) / height,
            (x1 * size + x_off) / width, (y1 * size + y_off) / height]
