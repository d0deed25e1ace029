"""DataComp's baseline filters: every rule just inside and just outside its thresholds, language ID
on real sentences, WordNet lookups of known words, and the image-based filter against a brute-force
nearest-centroid computation."""

from __future__ import annotations

import numpy as np
import pytest

from clipcurate.scores.helpers import datacomp_filters as F
from clipcurate.scores.helpers import langid
from clipcurate.scores.helpers import wordnet as W
from tests.required import needs

# ----------------------------------------------------------------------------------------------
# caption and geometry rules (DataComp: > 2 words, > 5 chars, min side >= 200, aspect <= 3)


def test_caption_rule_word_and_char_boundaries():
    texts = [
        "ab cd ef",      # 3 words, 8 chars: in
        "abcd efgh",     # 2 words: out (needs > 2)
        "a b c",         # 3 words, 5 chars: out (needs > 5)
        "a b  c",        # 3 words, 6 chars: in (the double space counts as a character)
        "a\tb\nc d",     # tabs and newlines split words for str.split: 4 words, 7 chars: in
        "",              # empty: out
        None,            # missing caption: out
    ]
    assert F.caption_mask(texts).tolist() == [True, False, False, True, True, False, False]


def test_caption_rule_counts_code_points():
    # 6 characters but 7 bytes in UTF-8 ("é" is 2 bytes): DataComp's len() counts characters
    assert F.caption_mask(["é b c d"]).tolist() == [True]
    assert F.caption_mask(["é b c"]).tolist() == [False]  # 5 characters


def test_geometry_rule_boundaries():
    w = [200, 199, 200, 200, 600, 601, 400, 0, None]
    h = [200, 400, 600, 601, 200, 200, 199, 0, 300]
    # 200x200 in; min side 199 out; ratio exactly 3 in; 601/200 out; 600x200 in; 601x200 out;
    # min side 199 out; zero out; missing out
    expected = [True, False, True, False, True, False, False, False, False]
    assert F.geometry_mask(np.array(w, dtype=float), np.array(h, dtype=float)).tolist() == expected


def test_geometry_rule_scaled_thresholds():
    w = np.array([16, 15, 48, 49])
    h = np.array([16, 64, 16, 16])
    assert F.geometry_mask(w, h, min_side=16, max_aspect=3.0).tolist() == [True, False, True, False]


def test_basic_is_the_conjunction():
    texts = ["a red circle here", "a red circle here", "no", "a red circle here"]
    english = np.array([True, False, True, True])
    w = np.array([300, 300, 300, 300])
    h = np.array([300, 300, 300, 100])
    assert F.basic_mask(texts, w, h, english).tolist() == [True, False, False, False]


def test_caption_prefilter_counts_fasttext_tokens():
    texts = ["ab cdefg", "abcdefgh", "ab\ncdef", "a b c", "ab\u00a0cdef gh"]
    english = np.ones(len(texts), dtype=bool)
    # 2 tokens, 8 chars: in; 1 token: out; "ab </s> cdef </s>"... 3 tokens: in; 5 chars: out;
    # a no-break space does not split for fastText: 2 tokens, 10 chars: in
    assert F.caption_prefilter(texts, english).tolist() == [True, False, True, False, True]


@pytest.mark.parametrize("text,n", [("", 0), ("a", 1), ("a b", 2), ("  a  b  ", 2), ("a\nb", 3),
                                    ("a\n", 2), ("\n", 1), ("a\r\tb\x0bc\x0cd\x00e", 5), ("a\u00a0b", 1)])
def test_fasttext_token_count(text, n):
    # hand-counted from fastText's Dictionary::readWord: words between separators, plus "</s>"
    # for every newline
    assert langid.fasttext_token_count(text) == n


# ----------------------------------------------------------------------------------------------
# CLIP score by fraction / threshold


def test_fraction_threshold_is_datacomps_index():
    s = np.array([0.5, 0.9, 0.6, 0.8, 0.7])
    # n = int(5 * 0.4) = 2; descending [0.9, 0.8, 0.7, ...][2] = 0.7; keep >= 0.7: three rows
    assert F.fraction_threshold(s, 0.4) == 0.7
    assert F.threshold_keep(s, fraction=0.4).tolist() == [False, True, False, True, True]
    # a threshold is inclusive: just inside and just outside
    assert F.threshold_keep(np.array([0.28, np.nextafter(0.28, 0)]), threshold=0.28).tolist() == [True, False]


def test_fraction_threshold_rounds_by_the_one_top_k_rule():
    # n = floor(100 * 0.29) = 29 (the binary product is 28.999999999999996, which int() truncates to 28):
    # the threshold is the value at index 29, and 30 rows are kept (DataComp's n + 1)
    s = np.arange(100.0)[::-1]
    assert F.fraction_threshold(s, 0.29) == 70.0 and F.threshold_keep(s, fraction=0.29).sum() == 30


def test_fraction_threshold_ties_are_kept():
    s = np.array([1.0, 0.5, 0.5, 0.5, 0.0])
    assert F.threshold_keep(s, fraction=0.2).sum() == 4  # threshold 0.5 (index 1): all ties kept


def test_threshold_errors():
    with pytest.raises(F.FilterError, match="exactly one"):
        F.threshold_keep(np.ones(3))
    with pytest.raises(F.FilterError, match="fraction"):
        F.fraction_threshold(np.ones(3), 1.0)
    with pytest.raises(F.FilterError, match="NaN"):
        F.fraction_threshold(np.array([0.1, np.nan]), 0.5)


# ----------------------------------------------------------------------------------------------
# language ID: the real lid.176 model on real sentences


SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog near the river bank.",
    "fr": "Le renard brun rapide saute par-dessus le chien paresseux près de la rivière.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund am Flussufer.",
    "es": "El rápido zorro marrón salta sobre el perro perezoso cerca del río.",
    "it": "La volpe marrone veloce salta sopra il cane pigro vicino al fiume.",
    "pt": "A rápida raposa marrom pula sobre o cão preguiçoso perto do rio.",
    "nl": "De snelle bruine vos springt over de luie hond bij de rivier.",
    "ru": "Быстрая коричневая лиса прыгает через ленивую собаку у реки.",
    "ja": "素早い茶色の狐が川のそばで怠け者の犬を飛び越える。",
    "zh": "我们今天下午去公园散步，天气非常好。",
}


def test_language_id_on_real_sentences():
    langs = list(SENTENCES)
    pred = langid.predict_languages([SENTENCES[k] for k in langs])
    assert pred.tolist() == langs
    assert langid.is_english([SENTENCES[k] for k in langs]).tolist() == [k == "en" for k in langs]


def test_language_id_world_style_captions():
    captions = ["a photo of two small red circles in the top left corner.",
                "une photo de deux petits cercles rouges.",
                "ein Foto von zwei kleinen roten Kreisen.",
                "una foto de dos círculos rojos pequeños."]
    assert langid.predict_languages(captions).tolist() == ["en", "fr", "de", "es"]


def test_language_id_newlines_become_spaces():
    a = langid.predict_languages(["Der schnelle braune Fuchs\nspringt über den faulen Hund"])
    b = langid.predict_languages(["Der schnelle braune Fuchs springt über den faulen Hund"])
    assert a.tolist() == b.tolist() == ["de"]


def test_language_id_batches_agree_with_single_calls():
    texts = [SENTENCES[k] for k in SENTENCES] * 3
    ref = langid.predict_languages(texts).tolist()
    assert langid.predict_languages(texts, batch_size=4).tolist() == ref
    assert langid.predict_languages(texts, batch_size=4, threads=2).tolist() == ref


def test_language_id_missing_model_file_is_named(tmp_path):
    with pytest.raises(langid.LangIdError, match="lid.176"):
        langid.load_model(tmp_path / "nope.bin")


# ----------------------------------------------------------------------------------------------
# WordNet (Debian's wordnet-base database)

needs_wordnet = needs(
    "wordnet", W.available(),
    f"no WordNet database in {W.default_root()} (install Debian's wordnet-base, or set $CLIPCURATE_WORDNET)",
)


@needs_wordnet
def test_wordnet_known_offsets():
    wn = W.open_wordnet()
    # n02084071 is ImageNet's "dog, domestic dog, Canis familiaris" wnid
    assert W.first_synset_offset("dog", wn) == 2084071
    assert W.first_synset_offset("Dogs", wn) == 2084071        # NLTK lower-cases and applies morphy
    assert W.first_synset_offset("dog.", wn) is None           # no punctuation stripping
    assert W.first_synset_offset("the", wn) is None
    assert wn.synsets("is")[0].name() == "be.v.01"              # every part of speech, nouns first
    assert W.wnid(W.first_synset_offset("hexagon", wn)) == "n13882276"


@needs_wordnet
def test_contains_entity_follows_datacomp():
    wn = W.open_wordnet()
    dog = {2084071}
    assert W.contains_entity("two Dogs running on grass", dog, wn)
    assert not W.contains_entity("a dog.", dog, wn)              # the only dog token has a period
    assert not W.contains_entity("un chien sur la plage", dog, wn)
    assert not W.contains_entity(None, dog, wn)
    assert W.entity_mask(["dog", "cat", "hot dog"], dog, wn).tolist() == [True, False, True]


@needs_wordnet
def test_class_wnids_and_wnid_file(tmp_path):
    wn = W.open_wordnet()
    ids = W.class_wnids(["dog", "hexagon"], wn)
    assert ids == ["n02084071", "n13882276"]
    p = tmp_path / "wnids.txt"
    p.write_text("\n".join(ids) + "\n\n")
    assert W.read_wnids(p) == {2084071, 13882276}
    p.write_text("n0208407\n")
    with pytest.raises(W.WordNetError, match="line 1"):
        W.read_wnids(p)


def test_wordnet_missing_directory_is_named(tmp_path):
    assert not W.available(tmp_path)
    with pytest.raises(W.WordNetError, match="wordnet-base"):
        W._stage(tmp_path)


# ----------------------------------------------------------------------------------------------
# image-based: faiss k-means + nearest centroid, against brute force


def test_kmeans_is_a_lloyd_fixed_point():
    # independent check of faiss's k-means: at convergence every centroid is the mean of the
    # training points whose L2-nearest centroid it is (brute force in numpy)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 8)) * 10
    x = np.concatenate([c + rng.normal(scale=0.5, size=(200, 8)) for c in centres]).astype(np.float32)
    c = F.train_centroids(x, 6, niter=50, seed=0)
    lab = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    for j in range(6):
        assert np.abs(x[lab == j].mean(axis=0) - c[j]).max() < 1e-3
    assert np.isin(lab, np.arange(6)).all() and len(np.unique(lab)) == 6


def test_image_based_matches_brute_force():
    rng = np.random.default_rng(1)
    pool = rng.normal(size=(3000, 16)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    ref = rng.normal(size=(40, 16)).astype(np.float32)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    pre = rng.random(3000) < 0.8
    c = F.train_centroids(pool[pre], 50, niter=10, seed=0)
    keep, target = F.image_based_keep(pool, pre, c, ref)
    # brute force: the centroid with the largest dot product, in numpy
    ref_lab = np.argmax(ref.astype(np.float64) @ c.T.astype(np.float64), axis=1)
    pool_lab = np.argmax(pool.astype(np.float64) @ c.T.astype(np.float64), axis=1)
    expected = pre & np.isin(pool_lab, np.unique(ref_lab))
    assert target.tolist() == sorted(set(ref_lab.tolist()))
    assert np.array_equal(keep, expected)
    assert 0 < keep.sum() < pre.sum()


def test_kmeans_sample_ratio_and_errors():
    x = np.random.default_rng(2).normal(size=(100, 4)).astype(np.float32)
    assert F.train_centroids(x, 3, niter=2, sample_ratio=0.5).shape == (3, 4)
    with pytest.raises(F.FilterError, match="clusters"):
        F.train_centroids(x, 101)


def test_basic_filter_equals_rule_by_rule_mask():
    texts = [SENTENCES[k] for k in SENTENCES] + ["a b", "short", None, "a photo of a dog"] * 3
    n = len(texts)
    rng = np.random.default_rng(0)
    w, h = rng.integers(100, 700, n), rng.integers(100, 700, n)
    model = langid.load_model()
    ref = F.basic_mask(texts, w, h, langid.is_english(texts, model))
    for threads in (1, 2):
        got = F.basic_filter(texts, w, h, model, threads=threads)
        assert np.array_equal(got, ref)
    assert ref.any() and not ref.all()
