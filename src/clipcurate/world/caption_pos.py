"""Part-of-speech tags of the tiny world's English captions, from the world's own vocabulary.

The world writes its captions from :mod:`clipcurate.world.concepts`: a determiner or count word,
adjectives (sizes, colours, textures), a shape noun (or its plural), an optional position phrase, in
one of a few templates; digit and rendered-word captions likewise. So every word's part of speech is
known from the list it was drawn from; this module writes those lists' tags (Penn Treebank, the tag
set of NLTK's English tagger) for each token of a caption, the training data of the world's
part-of-speech tagger (trainer ``tagger``, :mod:`clipcurate.train.trainers.tagger`). The method itself
(:mod:`clipcurate.scores.methods.devil_text`, ``pos_noun``) runs the trained tagger, never this table.

The closed-class words of the world's caption templates (articles, prepositions, "there is", the
nouns of the templates such as "photo" and "sign") are listed in :data:`TEMPLATE_WORDS`. In "in the
top left", "top"/"bottom" are adjectives and "left"/"right"/"centre" nouns, as the Penn Treebank
tags such position phrases. A token of none of the lists is an error naming the caption, so a world
that gains a word fails here, not silently in training.
"""

from __future__ import annotations

from typing import Iterable

from clipcurate.world import concepts as C

#: the words of the world's caption templates (concepts._EN_TEMPLATES, TEXT_CAPTION_TEMPLATES, the
#: digit captions) and their tags
TEMPLATE_WORDS = {
    "a": "DT", "an": "DT", "the": "DT",
    "of": "IN", "in": "IN", "on": "IN",
    "there": "EX", "is": "VBZ", "are": "VBP", "says": "VBZ", "that": "WDT",
    "photo": "NN", "image": "NN", "picture": "NN", "drawing": "NN", "illustration": "NN", "background": "NN",
    "number": "NN", "digit": "NN", "word": "NN", "text": "NN", "sign": "NN", "shape": "NN", "shapes": "NNS",
    "letters": "NNS",
    "simple": "JJ", "close-up": "JJ", "large": "JJ",
    "top": "JJ", "bottom": "JJ", "left": "NN", "right": "NN", "centre": "NN",
    # Treebank tokens of punctuation (the tokenizer turns opening quotes into `` and closing into '')
    ".": ".", "``": "``", "''": "''", '"': "''", ",": ",",
}


def vocabulary_tags() -> dict[str, str]:
    """Lower-cased word -> Penn Treebank tag, from the world's concept lists and templates."""
    tags = dict(TEMPLATE_WORDS)
    tags.update({s: "NN" for s in C.SHAPES})
    tags.update({p: "NNS" for p in C.SHAPE_PLURALS.values()})
    tags.update({c: "JJ" for c in C.COLOUR_NAMES})
    tags.update({s: "JJ" for s in C.SIZES})
    tags.update({t: "JJ" for t in C.TEXTURES})
    tags.update({w: "CD" for w in C.COUNT_WORDS.values()})
    tags.update({w: "CD" for w in C.DIGIT_WORDS})
    tags.update({d: "CD" for d in C.DIGITS})
    return tags


class UntaggedWord(ValueError):
    pass


def tag_caption(text: str, tags: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(token, tag) for each Treebank token of a world caption (:func:`clipcurate.train.pos_tagger.tokenize`)."""
    from clipcurate.train.pos_tagger import tokenize

    tags = tags or vocabulary_tags()
    out = []
    for tok in tokenize(text):
        tag = tags.get(tok.lower())
        if tag is None:
            raise UntaggedWord(f"caption {text!r}: token {tok!r} is in none of the world's word lists "
                               "(clipcurate.world.caption_pos.vocabulary_tags)")
        out.append((tok, tag))
    return out


def tag_captions(texts: Iterable[str]) -> list[list[tuple[str, str]]]:
    """:func:`tag_caption` of each caption."""
    tags = vocabulary_tags()
    return [tag_caption(t, tags) for t in texts]
