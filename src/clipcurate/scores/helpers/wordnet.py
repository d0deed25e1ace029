"""WordNet 3.0 for DataComp's text-based baseline, read with NLTK's WordNet reader.

DataComp's text-based filter keeps an English caption when, for at least one whitespace token of
the caption, the **first** synset NLTK's ``wordnet.synsets(token)`` returns has an offset that is
an ImageNet-21k class (a wnid ``n01234567`` is the letter ``n`` and a noun synset offset). Its
exact behaviour, which :func:`contains_entity` follows:

* tokens are ``caption.split()`` (no lower-casing, no punctuation stripping: ``"dog."`` has no
  synset; NLTK itself lower-cases and lemmatises with WordNet's morphy, so ``"Dogs"`` is ``dog``);
* ``synsets`` searches every part of speech, nouns first, so the first synset of ``"is"`` is the
  verb ``be.v.01``;
* only the offset is compared with the wnid list, not the part of speech (a verb whose offset
  happens to equal a noun wnid's would match; DataComp does the same).

The database is a directory of WordNet 3.0 files: Debian's ``wordnet-base`` package installs it in
``/usr/share/wordnet`` (the default here; ``$CLIPCURATE_WORDNET`` or the score's ``wordnet``
parameter name another). That package omits the ``lexnames`` file NLTK's reader opens, and NLTK
only reads files below its allowed data roots, so :func:`open_wordnet` stages a private copy of
the database files plus ``lexnames`` (the fixed WordNet 3.0 table below) in a temporary directory
and opens that. NLTK's own ``wordnet`` corpus (``nltk.download('wordnet')``, what DataComp uses)
is also WordNet 3.0: same synsets, same offsets.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

DEFAULT_ROOT = "/usr/share/wordnet"

#: WordNet 3.0's lexicographer files, in file-number order (the ``lexnames`` database file; its
#: third field, the syntactic category, follows from the name: noun 1, verb 2, adj 3, adv 4)
LEXNAMES_30 = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
_REQUIRED = ("index.noun", "data.noun", "index.verb", "data.verb", "index.adj", "data.adj",
             "index.adv", "data.adv", "noun.exc", "verb.exc", "adj.exc", "adv.exc")


class WordNetError(RuntimeError):
    pass


def default_root() -> str:
    return os.environ.get("CLIPCURATE_WORDNET") or DEFAULT_ROOT


def available(root: str | os.PathLike | None = None) -> bool:
    """True when ``root`` (default :func:`default_root`) holds a WordNet database."""
    r = Path(root or default_root())
    return all((r / f).is_file() for f in _REQUIRED)


def _stage(root: Path) -> Path:
    """A private copy of the database in a temporary directory, with ``lexnames`` added if absent."""
    missing = [f for f in _REQUIRED if not (root / f).is_file()]
    if missing:
        raise WordNetError(
            f"wordnet: {root} is not a WordNet 3.0 database directory (missing {', '.join(missing)}); "
            "install it with `apt-get install wordnet-base` (Debian/Ubuntu) or point $CLIPCURATE_WORDNET "
            "or the score's `wordnet` parameter at a directory holding index.noun, data.noun, ...")
    tmp = Path(tempfile.mkdtemp(prefix="clipcurate-wordnet-"))
    atexit.register(shutil.rmtree, tmp, True)
    for f in root.iterdir():
        if f.is_file():
            shutil.copyfile(f, tmp / f.name)  # a copy, not a link: NLTK refuses paths leaving its root
    if not (tmp / "lexnames").is_file():
        lines = (f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES_30))
        (tmp / "lexnames").write_text("".join(lines))
    return tmp


@lru_cache(maxsize=2)
def _open(root: str):
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        # NLTK maps the loaded WordNet onto its own "wordnet" corpus for multilingual (OMW)
        # lookups; there is none here and the filter never uses them
        def map_wn(self, version="wordnet"):
            return None

    staged = _stage(Path(root))
    nltk.data.path.append(str(staged))  # authorise the staged directory for NLTK's path check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return _Reader(str(staged), None)


def open_wordnet(root: str | os.PathLike | None = None):
    """NLTK's WordNet reader over the database in ``root`` (default :func:`default_root`), cached."""
    return _open(str(Path(root or default_root()).resolve()))


def wnid(offset: int, pos: str = "n") -> str:
    """ImageNet's id of a synset: its part-of-speech letter and 8-digit offset (``n02084071``)."""
    return f"{pos}{int(offset):08d}"


def read_wnids(path: str | os.PathLike) -> set[int]:
    """Offsets of a wnid list (one ``n01234567`` per line, DataComp's ``imagenet21k_wordnet_ids.txt``)."""
    p = Path(path)
    if not p.is_file():
        raise WordNetError(f"wnids: {p} does not exist; expected a text file with one ImageNet wnid "
                           "(e.g. n02084071) per line, such as ImageNet-21k's class list")
    out: set[int] = set()
    for i, line in enumerate(p.read_text().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if len(s) != 9 or s[0] != "n" or not s[1:].isdigit():
            raise WordNetError(f"{p}, line {i}: {s!r} is not a wnid (expected 'n' and 8 digits)")
        out.add(int(s[1:]))
    if not out:
        raise WordNetError(f"{p}: no wnid in the file")
    return out


def class_wnids(words: Iterable[str], wn) -> list[str]:
    """The wnid of each class name's first *noun* synset (spaces become underscores).

    The tiny world's stand-in for the ImageNet-21k list: its downstream classes are named, not
    numbered, so each name is mapped to its most frequent noun sense.
    """
    out = []
    for w in words:
        ss = wn.synsets(w.strip().replace(" ", "_"), pos="n")
        if not ss:
            raise WordNetError(f"class name {w!r} has no noun synset in WordNet")
        out.append(wnid(ss[0].offset()))
    return out


def first_synset_offset(word: str, wn) -> int | None:
    """Offset of the first synset ``wn.synsets(word)`` returns (all parts of speech), or None."""
    ss = wn.synsets(word)
    return ss[0].offset() if ss else None


def contains_entity(text: str | None, offsets: set[int], wn, cache: dict | None = None) -> bool:
    """DataComp's rule: some whitespace token's first synset offset is in ``offsets``."""
    if not text:
        return False
    cache = {} if cache is None else cache
    for word in text.split():
        off = cache.get(word, -1)
        if off == -1:
            off = cache[word] = first_synset_offset(word, wn)
        if off is not None and off in offsets:
            return True
    return False


def entity_mask(texts: Sequence[str | None], offsets: set[int], wn) -> np.ndarray:
    """Boolean mask of :func:`contains_entity` over captions (first synsets cached per token)."""
    cache: dict = {}
    return np.fromiter((contains_entity(t, offsets, wn, cache) for t in texts), dtype=bool, count=len(texts))
