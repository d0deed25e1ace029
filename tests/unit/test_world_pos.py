"""The world's part-of-speech truth (clipcurate.world.pos) on hand-tagged captions, over every
caption kind the world writes, and as training data for NLTK's perceptron tagger."""

from __future__ import annotations

import pytest

from clipcurate.world import pos, resolve_cfg
from clipcurate.world.pool_kinds import plan_pool
from clipcurate.world.reference import plan_reference
from clipcurate.world.verify import WorldError


@pytest.mark.parametrize("text, kind, lang, tags", [
    ("a photo of two red circles in the top left", "clean", None,
     "DET NOUN ADP NUM ADJ NOUN ADP DET ADJ NOUN"),
    ("there is a small striped star.", "clean", None, "DET VERB DET ADJ ADJ NOUN ."),
    ('a sign that says "blue arrow"', "scene_text", None, "DET NOUN DET VERB . ADJ NOUN ."),
    ("the digit seven", "clean", None, "DET NOUN NUM"),
    ("a close-up portrait of a smiling woman", "face", None, "DET ADJ NOUN ADP DET VERB NOUN"),
    ("une photo d'un cercle rouge", "non_english", "fr", None),
    ("IMG_0412.jpg", "uninformative", None, "X"),
    ("1920 x 1080 px", "uninformative", None, "NUM X NUM NOUN"),
])
def test_known_captions(text, kind, lang, tags):
    got = pos.tag_caption(text, kind, lang)
    if tags is None:  # another language: every token X
        assert got and all(t == "X" for _, t in got)
    else:
        assert [t for _, t in got] == tags.split(), got


def test_penn_tags_of_a_known_caption():
    got = pos.tag_caption("there are three small blue stars", tagset="penn")
    assert got == [("there", "EX"), ("are", "VBP"), ("three", "CD"), ("small", "JJ"), ("blue", "JJ"), ("stars", "NNS")]


def test_every_caption_the_world_writes_is_tagged():
    """Every kind's captions use the vocabulary only (an unknown word would raise)."""
    cfg = resolve_cfg({"pool_size": 3000})
    plan = plan_pool(cfg, seed=2)
    kinds = set()
    for r in plan:
        if r["text"] is None:  # eval copies get theirs when the tasks are drawn: tested below
            continue
        tagged = pos.tag_caption(r["text"], r["kind"], r["lang"])
        assert [t for t, _ in tagged] == pos.tokenize(r["text"])
        kinds.add(r["kind"])
    assert kinds == set(cfg["kinds"]) - {"eval_copy"}
    for name in ("pretrain", "hq", "downstream", "retrieval_train"):
        for p in plan_reference(name, 300, cfg, seed=2):
            pos.tag_caption(p["txt"])


def test_unknown_word_is_an_error_naming_it():
    with pytest.raises(WorldError, match=r"caption 'a photo of a zebra': token 'zebra'"):
        pos.tag_caption("a photo of a zebra")


def test_tagged_captions_of_a_generated_world(tmp_path):
    from clipcurate.world import generate_world

    cfg = {"pool_size": 300, "shard_size": 50,
           "sizes": {"pretrain": 30, "hq": 20, "downstream": 20, "retrieval_train": 20, "eval_per_task": 10}}
    generate_world(tmp_path / "w", cfg, "http://127.0.0.1:1", seed=3)
    sents = pos.tagged_captions(tmp_path / "w", "pool")
    assert len(sents) == 300
    clean = pos.tagged_captions(tmp_path / "w", "pool", kinds=("clean",))
    assert 0 < len(clean) < 300
    # clean captions name a noun, but for some digit captions ("a red 3")
    with_noun = sum(any(t == "NOUN" for _, t in s) for s in clean)
    assert 0.9 * len(clean) < with_noun
    assert len(pos.tagged_captions(tmp_path / "w", "pretrain", tagset="penn")) == 30
    with pytest.raises(WorldError, match="no shards"):
        pos.tagged_captions(tmp_path / "w", "imagenet")


def test_the_truth_trains_nltks_perceptron_tagger():
    """NLTK's perceptron tagger trained on 1500 world captions tags 500 held-out ones almost perfectly."""
    from nltk.tag.perceptron import PerceptronTagger

    plan = [r for r in plan_pool(resolve_cfg({"pool_size": 3000}), seed=4)
            if r["text"] is not None and r["kind"] not in ("non_english", "uninformative")]
    sents = [pos.tag_caption(r["text"], r["kind"]) for r in plan]
    train, test = sents[:1500], sents[1500:2000]
    tagger = PerceptronTagger(load=False)
    tagger.train(train, nr_iter=3)
    pairs = [(t, g) for s in test for (_, t), (_, g) in zip(s, tagger.tag([w for w, _ in s]))]
    acc = sum(t == g for t, g in pairs) / len(pairs)
    assert acc > 0.97, acc
