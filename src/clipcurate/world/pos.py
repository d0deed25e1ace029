"""The world's part-of-speech truth: its captions tokenised, each token with its tag.

The world writes its English captions from a closed vocabulary in which every word has one part of
speech (shape names are nouns, colours, sizes and textures adjectives, count words and digits
numerals, the templates' verbs, prepositions and determiners fixed), so the tag of every token of a
caption is known by construction, not guessed. That truth trains and tests a real tagger (the
``pos_noun`` rule's NLTK perceptron tagger) on the tiny world, as issue 14 §2 asks.

Conventions (documented for the tagger trainer):

* tokens: NLTK's Treebank tokenizer (:func:`tokenize`), the tokenizer an NLTK tagger is applied
  after; straight double quotes become the tokens ````` and ``''``;
* tags: Penn Treebank (``tagset="penn"``) or the universal tagset of Petrov et al. that NLTK's
  ``tagset="universal"`` maps Penn to (``tagset="universal"``, the default), with NLTK's mapping
  (``EX`` and ``WDT`` -> ``DET``, punctuation -> ``.``, ``FW`` -> ``X``);
* a caption in another language (the ``non_english`` kind): every token ``FW`` / ``X``;
* an uninformative caption ("IMG_0412.jpg", "1920 x 1080 px"): a token of the English vocabulary
  keeps its tag, a number is ``CD`` / ``NUM``, anything else (file names, codes) ``FW`` / ``X``;
* any other caption with a token outside the vocabulary is an error (:class:`~.verify.WorldError`),
  so a new caption template cannot silently add untagged words.

Entry points: :func:`tag_caption` (one caption), :func:`tagged_captions` (every caption of a
generated world's pool or of one of its reference sets).
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from . import concepts as C
from .verify import WorldError

# --------------------------------------------------------------------------------------------
# the vocabulary's tags (Penn Treebank)


def _lexicon() -> dict[str, str]:
    lex: dict[str, str] = {}

    def put(words, tag):
        for w in words:
            lex[w.lower()] = tag

    put(C.SHAPES, "NN")
    put(C.SHAPE_PLURALS.values(), "NNS")
    put(C.COLOUR_NAMES, "JJ")
    put(C.SIZES, "JJ")
    put(C.TEXTURES, "JJ")
    put(C.COUNT_WORDS.values(), "CD")
    put(C.DIGITS, "CD")
    put(C.DIGIT_WORDS, "CD")
    # positions: "in the top left" -> top/JJ left/NN; "in the centre" -> centre/NN
    put(("top", "bottom"), "JJ")
    put(("left", "right", "centre"), "NN")
    # the caption templates (concepts.caption_en, text_caption, caption_scene_text, the task templates)
    put(("a", "an", "the", "no"), "DT")
    put(("of", "in", "on"), "IN")
    put(("is", "says"), "VBZ")
    put(("are",), "VBP")
    put(("there",), "EX")
    put(("that",), "WDT")
    put(("photo", "image", "picture", "drawing", "illustration", "background", "shape", "number", "digit",
         "word", "text", "sign", "object", "pattern", "description", "thumbnail", "px"), "NN")
    put(("shapes", "objects", "letters"), "NNS")
    put(("simple", "close-up", "untitled", "young"), "JJ")
    put(("something",), "NN")
    # the face kind's captions (faces.FACE_CAPTIONS)
    put(("portrait", "woman", "man", "person", "face", "selfie", "headshot", "profile"), "NN")
    put(("smiling",), "VBG")
    return lex


LEXICON: dict[str, str] = _lexicon()
PUNCT = {".": ".", ",": ",", ":": ":", "``": "``", "''": "''"}
#: NLTK's en-ptb -> universal mapping, for the Penn tags the world uses
UNIVERSAL: dict[str, str] = {
    "NN": "NOUN", "NNS": "NOUN", "JJ": "ADJ", "CD": "NUM", "DT": "DET", "IN": "ADP", "VBZ": "VERB",
    "VBP": "VERB", "VBG": "VERB", "EX": "DET", "WDT": "DET", "FW": "X",
    ".": ".", ",": ".", ":": ".", "``": ".", "''": ".",
}
TAGSETS = ("universal", "penn")
_NUMBER = re.compile(r"^\d+([.,]\d+)?$")


def tokenize(text: str) -> list[str]:
    """NLTK's Treebank word tokenizer (needs no downloaded data)."""
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer().tokenize(text)


def _penn(token: str, mode: str, text: str) -> str:
    if token in PUNCT:
        return PUNCT[token]
    if mode == "foreign":
        return "FW"
    tag = LEXICON.get(token.lower())
    if tag is not None:
        return tag
    if mode == "uninformative":
        return "CD" if _NUMBER.match(token) else "FW"
    raise WorldError(f"pos: caption {text!r}: token {token!r} is not in the world's vocabulary "
                     "(clipcurate.world.pos.LEXICON); add it with its tag")


def tag_caption(text: str, kind: str = "clean", lang: str | None = None, tagset: str = "universal"
                ) -> list[tuple[str, str]]:
    """``[(token, tag), ...]`` of one caption of the world.

    ``kind`` / ``lang`` are the sample's truth: ``lang`` set or ``kind == "non_english"`` tags every
    word ``X``; ``kind == "uninformative"`` tags unknown tokens ``X`` (numbers ``NUM``); any other
    kind must use the world's vocabulary only.
    """
    if tagset not in TAGSETS:
        raise ValueError(f"pos: tagset {tagset!r}; expected one of {TAGSETS}")
    mode = "foreign" if (lang or kind == "non_english") else ("uninformative" if kind == "uninformative" else "en")
    out = []
    for tok in tokenize(text):
        tag = _penn(tok, mode, text)
        out.append((tok, UNIVERSAL[tag] if tagset == "universal" else tag))
    return out


def _reference_captions(world: Path, name: str) -> list[str]:
    shards = sorted((world / "reference" / name).glob("*.tar"))
    if not shards:
        raise WorldError(f"{world / 'reference' / name}: no shards; expected a reference set of the world "
                         "(pretrain, hq, downstream, retrieval_train)")
    texts = []
    for shard in shards:
        with tarfile.open(shard) as tf:
            for m in tf.getmembers():
                if m.name.endswith(".txt"):
                    texts.append(tf.extractfile(m).read().decode())
    return texts


def tagged_captions(world_dir: str | Path, split: str = "pool", tagset: str = "universal",
                    kinds: tuple[str, ...] | None = None) -> list[list[tuple[str, str]]]:
    """Every caption of a generated world, tokenised and tagged (see the module docstring).

    ``split``: ``"pool"`` (``pool/metadata.parquet`` with the kinds and languages of
    ``truth.parquet``, in uid order; ``kinds`` keeps only those kinds) or a reference set's name
    (``"pretrain"``, ``"hq"``, ``"downstream"``, ``"retrieval_train"``: its shards' captions in key
    order, all English). Returns one ``[(token, tag), ...]`` list per caption.
    """
    world = Path(world_dir)
    if split != "pool":
        return [tag_caption(t, tagset=tagset) for t in _reference_captions(world, split)]
    import pyarrow.parquet as pq

    meta_path, truth_path = world / "pool" / "metadata.parquet", world / "truth.parquet"
    for p in (meta_path, truth_path):
        if not p.is_file():
            raise WorldError(f"{p}: missing; expected a generated world in {world}")
    texts = pq.read_table(meta_path, columns=["uid", "text"]).to_pylist()
    truth = pq.read_table(truth_path, columns=["uid", "kind", "lang"]).to_pylist()
    out = []
    for m, t in zip(texts, truth):
        if m["uid"] != t["uid"]:
            raise WorldError(f"{truth_path}: row order differs from {meta_path} at uid {m['uid']}")
        if kinds is not None and t["kind"] not in kinds:
            continue
        out.append(tag_caption(m["text"], t["kind"], t["lang"], tagset))
    return out
