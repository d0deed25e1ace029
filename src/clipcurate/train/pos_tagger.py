"""Part-of-speech tagging of captions with NLTK's averaged perceptron tagger (the Devil paper's
part-of-speech rule; spaCy is not a dependency).

A tagger is a *folder* in NLTK 3.10's json format: ``averaged_perceptron_tagger_<lang>.weights.json``,
``.tagdict.json`` and ``.classes.json`` (what ``PerceptronTagger.save_to_json`` writes; NLTK's
released English model is ``nltk_data/taggers/averaged_perceptron_tagger_eng/``, Penn Treebank tags).
Config names the weights file (the folder's first file), so that a trained tagger is an ordinary
artifact path; :func:`load_tagger` is the one loader, used by the score, the tests and the
benchmark alike. NLTK 3.10 reads and writes model files only under its data roots
(``nltk.pathsec``), so the loader and :func:`save_tagger` add the tagger's parent folder to
``nltk.data.path``: naming a tagger in config is what makes its folder trusted.

Captions are tokenised with NLTK's ``NLTKWordTokenizer`` (the Treebank rules that ``word_tokenize``
applies after sentence splitting; a caption is tagged as one sentence, and no punkt data is needed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

#: Penn Treebank noun tags: the default of the "caption contains a noun" rule
NOUN_TAGS = ("NN", "NNS", "NNP", "NNPS")
PARTS = ("weights", "tagdict", "classes")


class TaggerError(ValueError):
    pass


def tagger_files(folder: str | os.PathLike, lang: str = "eng") -> list[Path]:
    """The three json files of a tagger folder, in NLTK's names."""
    return [Path(folder) / f"averaged_perceptron_tagger_{lang}.{p}.json" for p in PARTS]


def split_model_path(path: str | os.PathLike) -> tuple[Path, str]:
    """(folder, lang) of a tagger given by its weights file (``..._<lang>.weights.json``) or folder."""
    p = Path(path)
    name = p.name
    prefix, suffix = "averaged_perceptron_tagger_", ".weights.json"
    if name.startswith(prefix) and name.endswith(suffix):
        return p.parent, name[len(prefix):-len(suffix)]
    if p.is_dir():
        found = sorted(p.glob(f"{prefix}*{suffix}"))
        if len(found) == 1:
            return p, found[0].name[len(prefix):-len(suffix)]
    raise TaggerError(f"tagger: {p} is not an NLTK perceptron tagger; expected its weights file "
                      f"({prefix}<lang>{suffix}) or the folder holding it")


def _trust(folder: Path) -> None:
    import nltk

    root = str(folder.resolve().parent)
    if root not in nltk.data.path:
        nltk.data.path.append(root)


def load_tagger(path: str | os.PathLike):
    """The ``nltk.tag.perceptron.PerceptronTagger`` at ``path`` (weights file or folder).

    ``PerceptronTagger(load=False)`` then ``load_from_json(lang, loc=folder)``; a missing file or one
    NLTK cannot read is named with what was expected."""
    from nltk.tag.perceptron import PerceptronTagger

    folder, lang = split_model_path(path)
    folder = folder.resolve()
    missing = [str(f) for f in tagger_files(folder, lang) if not f.is_file()]
    if missing:
        raise TaggerError(f"tagger {path}: missing {missing}; an NLTK perceptron tagger folder holds the weights, "
                          "tagdict and classes json files (PerceptronTagger.save_to_json)")
    _trust(folder)
    tagger = PerceptronTagger(load=False, lang=lang)
    try:
        tagger.load_from_json(lang=lang, loc=str(folder))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise TaggerError(f"tagger {folder}: not a readable NLTK perceptron tagger ({type(e).__name__}: {e})") from e
    if not tagger.classes:
        raise TaggerError(f"tagger {folder}: its classes json lists no tags")
    return tagger


def save_tagger(tagger, folder: str | os.PathLike, lang: str = "eng") -> Path:
    """Write ``tagger`` to ``folder`` with ``save_to_json``, atomically (a sibling temporary folder
    renamed into place). Returns the weights file's path."""
    folder = Path(folder).resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    _trust(tmp)
    tagger.save_to_json(lang=lang, loc=str(tmp))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return tagger_files(folder, lang)[0]


def train_tagger(tagged: Sequence[Sequence[tuple[str, str]]], iterations: int = 5, seed: int = 0, lang: str = "eng"):
    """An averaged perceptron tagger trained on tagged sentences (lists of (token, tag)).

    NLTK shuffles the sentences between iterations with the global ``random`` module; it is seeded
    here (and restored after), so a training is a function of the data and the seed."""
    from nltk.tag.perceptron import PerceptronTagger

    if not tagged:
        raise TaggerError("train_tagger: no tagged sentences")
    state = random.getstate()
    try:
        random.seed(int(seed))
        tagger = PerceptronTagger(load=False, lang=lang)
        tagger.train([list(s) for s in tagged], nr_iter=int(iterations))
    finally:
        random.setstate(state)
    return tagger


_TOKENIZER = None


def tokenize(text: str | None) -> list[str]:
    """Treebank tokens of a caption (NLTK's ``NLTKWordTokenizer``); a missing caption has none."""
    global _TOKENIZER
    if not text:
        return []
    if _TOKENIZER is None:
        from nltk.tokenize import NLTKWordTokenizer

        _TOKENIZER = NLTKWordTokenizer()
    return _TOKENIZER.tokenize(text)


def tag_captions(tagger, texts: Iterable[str | None]) -> list[list[tuple[str, str]]]:
    """(token, tag) lists of captions, each tagged as one sentence."""
    return [tagger.tag(tokenize(t)) if t else [] for t in texts]


def has_tag(tagger, texts: Iterable[str | None], tags: Sequence[str] = NOUN_TAGS) -> np.ndarray:
    """Whether some token of each caption gets one of ``tags`` (a caption without tokens: False)."""
    want = frozenset(tags)
    texts = texts.to_pylist() if hasattr(texts, "to_pylist") else list(texts)
    out = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        if t:
            toks = tokenize(t)
            if toks:
                out[i] = any(tag in want for _, tag in tagger.tag(toks))
    return out


def accuracy(tagger, tagged: Sequence[Sequence[tuple[str, str]]]) -> float:
    """Token accuracy of ``tagger`` on tagged sentences (its tags for their tokens vs the given)."""
    right = total = 0
    for sent in tagged:
        if not sent:
            continue
        words = [w for w, _ in sent]
        for (_, guess), (_, gold) in zip(tagger.tag(words), sent):
            right += guess == gold
            total += 1
    if total == 0:
        raise TaggerError("accuracy: no tagged tokens")
    return right / total
