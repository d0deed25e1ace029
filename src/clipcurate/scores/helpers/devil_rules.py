"""The single-modality rules of "The Devil is in the Details" (Yu et al. 2023) as pure functions over
metadata columns; the registered score methods (:mod:`clipcurate.scores.methods.devil_text`,
:mod:`clipcurate.scores.methods.devil_image`) wrap them.

The paper gives the rules but not their exact form or thresholds (no code is public; the
summary names PoS patterns, removal of high-frequency text, non-English removal, aspect ratio and
facial-area ratio). The readings chosen here, each a parameter of its method:

* **caption length**: whitespace words (``str.split``, DataComp's basic-filter count) or Unicode
  code points, ``min_len <= length <= max_len`` (both inclusive; ``max_len`` null: no upper bound).
* **high-frequency captions**: a caption's *normalised form* is NFKC-normalised, case-folded, every
  run of characters that are not letters or digits (whitespace, punctuation, symbols) replaced by one
  space, and stripped; so "A Red Circle!", "a red  circle" and "a-red-circle" are one caption. Its
  64-bit key is the first 8 bytes of BLAKE2b of the UTF-8 form (stable across machines and Python
  runs, unlike ``hash()``); at 128M distinct captions the expected number of colliding pairs is
  n^2 / 2^65 = 4e-4. A missing caption normalises to the empty string and is counted like any other.
* **aspect ratio**: ``max(w/h, h/w)`` of DataComp's ``original_width``/``original_height`` (the
  image before download resizing); a missing or non-positive side gives an infinite ratio.
* **face area**: DataComp's ``face_bboxes`` are SCRFD face boxes ``[x0, y0, x1, y1]`` in fractions of
  the image side. The ratio is the area of the *union* of the boxes (clipped to the unit square),
  so overlapping detections of one face are not counted twice and the ratio is at most 1; a sum
  would exceed 1 for a crowd of overlapping boxes and punish duplicate detections.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Iterable, Sequence

import numpy as np

#: runs of characters that are neither letters nor digits (Unicode-aware: \W is [^\w], \w without _)
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def _texts(texts) -> list:
    if hasattr(texts, "to_pylist"):
        return texts.to_pylist()
    return list(texts)


def normalise_caption(text: str | None) -> str:
    """The normalised form of a caption (module docstring): NFKC, case-folded, non-alphanumeric runs
    collapsed to one space, stripped; None -> ``""``."""
    if not text:
        return ""
    return _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def caption_keys(texts: Iterable[str | None]) -> np.ndarray:
    """uint64 key of each caption's normalised form (BLAKE2b, 8 bytes, little-endian)."""
    texts = _texts(texts)
    out = np.empty(len(texts), dtype=np.uint64)
    b2 = hashlib.blake2b
    for i, t in enumerate(texts):
        out[i] = int.from_bytes(b2(normalise_caption(t).encode("utf-8"), digest_size=8).digest(), "little")
    return out


def count_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, int64 count of each) of a key array."""
    uniq, counts = np.unique(np.asarray(keys, dtype=np.uint64), return_counts=True)
    return uniq, counts.astype(np.int64)


def merge_counts(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Two (sorted distinct keys, counts) tables summed into one (keys sorted and distinct).

    ``a`` is the large running table and ``b`` one chunk's: ``b``'s keys found in ``a`` add their
    counts in place, the others are inserted at their sorted positions (``np.insert``), so the peak
    is the running table, its copy with the new keys, and ``b``-sized temporaries: about 32 bytes
    per distinct key (16 for the key and its count, twice). ``a`` is consumed: its counts are updated
    in place."""
    ak, ac = np.asarray(a[0], dtype=np.uint64), np.asarray(a[1], dtype=np.int64)
    bk, bc = np.asarray(b[0], dtype=np.uint64), np.asarray(b[1], dtype=np.int64)
    if ak.size == 0:
        return bk.copy(), bc.copy()
    pos = np.searchsorted(ak, bk)
    found = pos < ak.size
    found[found] = ak[pos[found]] == bk[found]
    if found.any():
        if not ac.flags.writeable:
            ac = ac.copy()
        ac[pos[found]] += bc[found]  # b's keys are distinct, so each position is hit once
    new = ~found
    if not new.any():
        return ak, ac
    return np.insert(ak, pos[new], bk[new]), np.insert(ac, pos[new], bc[new])


def word_counts(texts) -> np.ndarray:
    """``len(caption.split())`` of each caption (missing: 0)."""
    texts = _texts(texts)
    return np.fromiter((len(t.split()) if t else 0 for t in texts), dtype=np.int64, count=len(texts))


def char_counts(texts) -> np.ndarray:
    """``len(caption)`` in code points (missing: 0)."""
    texts = _texts(texts)
    return np.fromiter((len(t) if t else 0 for t in texts), dtype=np.int64, count=len(texts))


def length_keep(texts, unit: str, min_len: int, max_len: int | None) -> np.ndarray:
    """``min_len <= length <= max_len`` with length in ``unit`` (``words`` or ``chars``)."""
    if unit == "words":
        n = word_counts(texts)
    elif unit == "chars":
        n = char_counts(texts)
    else:
        raise ValueError(f"unit: expected 'words' or 'chars', got {unit!r}")
    keep = n >= int(min_len)
    if max_len is not None:
        keep &= n <= int(max_len)
    return keep


def aspect_ratios(width, height) -> np.ndarray:
    """``max(w/h, h/w)`` per row; a missing (NaN) or non-positive side gives ``inf``."""
    w = np.asarray(width, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    lo, hi = np.minimum(w, h), np.maximum(w, h)
    ok = lo > 0  # NaN compares False
    return np.where(ok, hi / np.where(ok, lo, 1.0), np.inf)


def union_area(boxes: Sequence[Sequence[float]]) -> float:
    """Area of the union of axis-aligned boxes ``[x0, y0, x1, y1]`` clipped to the unit square.

    Exact, by coordinate compression: the boxes' edges cut the square into cells and a cell counts
    when some box covers it (O(k^3) for k boxes; a DataComp image has a few faces at most). A box
    with ``x1 <= x0`` or ``y1 <= y0`` after clipping covers nothing."""
    b = np.clip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), 0.0, 1.0)
    b = b[(b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])]
    if len(b) == 0:
        return 0.0
    if len(b) == 1:
        return float((b[0, 2] - b[0, 0]) * (b[0, 3] - b[0, 1]))
    xs = np.unique(np.r_[b[:, 0], b[:, 2]])
    ys = np.unique(np.r_[b[:, 1], b[:, 3]])
    cx = (xs[:-1] + xs[1:]) / 2  # cell centres
    cy = (ys[:-1] + ys[1:]) / 2
    inx = (b[:, 0, None] <= cx) & (cx < b[:, 2, None])  # [k, cells_x]
    iny = (b[:, 1, None] <= cy) & (cy < b[:, 3, None])  # [k, cells_y]
    covered = (inx[:, :, None] & iny[:, None, :]).any(axis=0)
    return float((np.diff(xs)[:, None] * np.diff(ys)[None, :])[covered].sum())


def face_area_ratios(bboxes) -> np.ndarray:
    """Union face-box area over image area per row of a ``face_bboxes`` column (a pyarrow list of
    lists, or a Python sequence of box lists); a row without boxes is 0."""
    if hasattr(bboxes, "to_pylist"):  # pyarrow: convert only the rows that have boxes
        import pyarrow.compute as pc

        n = len(bboxes)
        idx = np.flatnonzero(pc.fill_null(pc.list_value_length(bboxes), 0).to_numpy(zero_copy_only=False) > 0)
        out = np.zeros(n, dtype=np.float64)
        for i, boxes in zip(idx, bboxes.take(idx).to_pylist()):
            out[i] = union_area(boxes)
        return out
    rows = list(bboxes)
    out = np.zeros(len(rows), dtype=np.float64)
    for i, boxes in enumerate(rows):
        if boxes:
            out[i] = union_area(boxes)
    return out
