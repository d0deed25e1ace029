"""The Devil paper's single-modality rules (english, caption_length, frequent_captions, aspect_ratio,
face_area): each just inside and just outside its threshold, the frequent-caption counts against a
direct Counter across chunk boundaries, face areas against hand-computed boxes, bad face boxes named
by file, row and column, and the config entries planned."""

from __future__ import annotations

import collections
import copy

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.scores.helpers import devil_rules as R
from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.scores import get
from clipcurate.scores.methods.devil_text import freq_fit, freq_prepare, frequency_threshold
from clipcurate.scores.plan import PlanError, plan_score
from clipcurate.scores.runner import run_score
from clipcurate.scores.stages import Prepared, StageContext, run_apply, run_fit, run_gather, run_prepare, stage_files, stage_path

EN = "a photo of a dog on the grass"
FR = "une photo d'un chien sur l'herbe verte"


def params(name, **kw):
    return {**get(name).defaults, **kw}


def meta(**cols):
    return pa.table({k: pa.array(v) for k, v in cols.items()})


# --------------------------------------------------------------------------------------------
# text rules


def test_english_keeps_english_only():
    out = get("english").func(params("english"), meta(text=[EN, FR, None, ""]))
    assert out["keep"].tolist() == [True, False, False, False]


@pytest.mark.parametrize("unit,texts,min_len,max_len,expected", [
    # words: 3 is the minimum (inside), 2 is outside; 5 the maximum (inside), 6 outside
    ("words", ["a b", "a b c", "a b c d e", "a b c d e f"], 3, 5, [False, True, True, False]),
    # characters (code points, so "é" is one): 4 outside, 5 inside; 7 inside, 8 outside
    ("chars", ["abcd", "abcdé", "abc déf", "abcd éfg"], 5, 7, [False, True, True, False]),
    ("words", [None, "", "one", "x " * 500], 1, None, [False, False, True, True]),  # no upper bound
])
def test_caption_length_at_its_thresholds(unit, texts, min_len, max_len, expected):
    p = params("caption_length", unit=unit, min_len=min_len, max_len=max_len)
    assert get("caption_length").func(p, meta(text=pa.array(texts, pa.string())))["keep"].tolist() == expected


def test_normalised_caption():
    assert R.normalise_caption("  A Red-Circle!!  ") == "a red circle"
    assert R.normalise_caption("a\tred\n\ncircle") == "a red circle"
    assert R.normalise_caption("Ｓｔｒａßｅ_1") == "strasse 1"  # NFKC full-width, case-folded ß, underscore
    assert R.normalise_caption(None) == R.normalise_caption("...") == ""
    k = R.caption_keys(["A red circle.", "a red  circle", "a red square", None, ""])
    assert k.dtype == np.uint64 and k[0] == k[1] and k[1] != k[2] and k[3] == k[4]


def _counted(texts, max_count, chunk_bounds):
    """The staged method on ``texts`` split into chunks at ``chunk_bounds`` (prepare, fit, apply)."""
    p = params("frequent_captions", max_count=max_count, max_share=None)
    parts = np.split(np.arange(len(texts)), chunk_bounds)
    prepared = [freq_prepare(p, StageContext("prepare", chunk=c), meta(text=pa.array([texts[i] for i in r], pa.string())))
                for c, r in enumerate(parts)]
    fitted = freq_fit(p, StageContext("fit"), Prepared(prepared))
    keep = np.concatenate([get("frequent_captions").func(p, StageContext("apply", chunk=c), fitted, prepared[c])["keep"]
                           for c in range(len(parts))])
    return fitted, keep


def test_frequent_captions_against_a_counter_across_chunks():
    rng = np.random.default_rng(3)
    vocab = ["A cat.", "a cat", "a dog", "Stock photo", "stock  PHOTO!", "image", None, "a bird", "a red circle"]
    texts = [vocab[i] for i in rng.integers(0, len(vocab), size=997)] + [f"unique caption {i}" for i in range(50)]
    rng.shuffle(texts)
    counts = collections.Counter(R.normalise_caption(t) for t in texts)
    for max_count in (1, 110, 120, 250):
        for bounds in ([], [1], [300, 301, 700], list(range(100, 1047, 100))):
            fitted, keep = _counted(texts, max_count, bounds)
            expected = np.array([counts[R.normalise_caption(t)] <= max_count for t in texts])
            assert (keep == expected).all(), (max_count, bounds)
            assert int(fitted["rows"]) == len(texts) and int(fitted["distinct"]) == len(counts)
            assert sorted(fitted["count"].tolist()) == sorted(c for c in counts.values() if c > max_count)


def test_frequent_captions_threshold_just_inside_and_outside():
    texts = ["a cat"] * 3 + ["a dog"] * 4  # "a cat" 3 times, "a dog" 4 times
    assert _counted(texts, 3, [2, 5])[1].tolist() == [True] * 3 + [False] * 4
    assert _counted(texts, 4, [2, 5])[1].tolist() == [True] * 7
    assert frequency_threshold({"max_count": None, "max_share": 0.0015}, 20000) == 30
    assert frequency_threshold({"max_count": 7, "max_share": None}, 10**9) == 7


def test_merge_counts_is_a_sum():
    a = R.count_keys(np.array([5, 1, 5, 9], np.uint64))
    b = R.count_keys(np.array([9, 2, 9], np.uint64))
    k, c = R.merge_counts(a, b)
    assert k.tolist() == [1, 2, 5, 9] and c.tolist() == [1, 1, 2, 3]
    assert R.merge_counts((np.empty(0, np.uint64), np.empty(0, np.int64)), b)[1].tolist() == [1, 2]


# --------------------------------------------------------------------------------------------
# image rules


def test_aspect_ratio_at_its_threshold():
    w = [300, 301, 100, 100, 0, 50]
    h = [100, 100, 300, 301, 10, 50]
    out = get("aspect_ratio").func(params("aspect_ratio", max_aspect=3.0), meta(original_width=w, original_height=h))
    assert out["keep"].tolist() == [True, False, True, False, False, True]
    assert out["score"][[0, 1, 5]].tolist() == pytest.approx([-3.0, -3.01, -1.0])
    assert out["score"][4] < -1e30  # a zero side: the lowest score


def test_face_area_union_on_hand_computed_boxes():
    assert R.union_area([]) == 0.0
    assert R.union_area([[0.1, 0.1, 0.5, 0.3]]) == pytest.approx(0.08)
    # two boxes overlapping in [0.2,0.4]x[0.2,0.4]: 0.16 + 0.16 - 0.04
    assert R.union_area([[0.0, 0.0, 0.4, 0.4], [0.2, 0.2, 0.6, 0.6]]) == pytest.approx(0.28)
    # a box inside another counts once; a duplicate detection too
    assert R.union_area([[0.0, 0.0, 0.5, 0.5], [0.1, 0.1, 0.2, 0.2], [0.0, 0.0, 0.5, 0.5]]) == pytest.approx(0.25)
    # three boxes: an L of two plus a disjoint one; clipped to the unit square; a degenerate box
    boxes = [[0.0, 0.0, 0.2, 0.6], [0.0, 0.4, 0.6, 0.6], [0.8, 0.8, 1.3, 1.1], [0.5, 0.5, 0.5, 0.9]]
    assert R.union_area(boxes) == pytest.approx(0.12 + 0.12 - 0.04 + 0.04)


def test_face_area_union_against_a_raster():
    """Random boxes on a 1/200 grid: the exact union equals the count of covered grid cells."""
    rng = np.random.default_rng(0)
    for _ in range(30):
        k = int(rng.integers(1, 6))
        lo = rng.integers(0, 180, size=(k, 2))
        hi = lo + rng.integers(1, 60, size=(k, 2))
        boxes = np.c_[lo, np.minimum(hi, 200)] / 200.0
        grid = np.zeros((200, 200), bool)
        for x0, y0, x1, y1 in (boxes * 200).round().astype(int):
            grid[y0:y1, x0:x1] = True
        assert R.union_area(boxes.tolist()) == pytest.approx(grid.mean(), abs=1e-9)


def test_face_area_at_its_threshold():
    bbox_type = pa.list_(pa.list_(pa.float64()))
    col = pa.array([[], [[0.0, 0.0, 0.5, 1.0]], [[0.0, 0.0, 0.51, 1.0]], [[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]],
                    [[0.0, 0.0, 0.6, 0.6], [0.0, 0.0, 0.6, 0.6]]], bbox_type)
    out = get("face_area").func(params("face_area", max_face_area=0.5), pa.table({"face_bboxes": col}))
    # none; exactly half (inside); 0.51 (outside); two quarters = half (inside); one box found twice: 0.36
    assert out["keep"].tolist() == [True, True, False, True, True]
    assert out["score"].tolist() == pytest.approx([0.0, -0.5, -0.51, -0.5, -0.36])


# --------------------------------------------------------------------------------------------
# through the runner: the workflow's files


CONFIG = {"pool": {"source": "world"}, "models": {}, "mixes": {}, "scores": {
    "freq": {"method": "frequent_captions", "params": {"max_count": 2, "max_share": None}},
    "faces": {"method": "face_area", "params": {"max_face_area": 0.3}},
}}


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """Two chunks of two shards each at the workflow's paths; shard parquets hold captions and face boxes."""
    monkeypatch.chdir(tmp_path)
    texts = ["a cat", "A cat!", "a dog", "a bird", "a cat", "a dog", "a fish", "a dog"]
    boxes = [[], [[0.0, 0.0, 0.6, 0.6]], [], [[0.1, 0.1, 0.2, 0.2]], [], [], [[0.0, 0.0, 0.5, 0.5]], []]
    n = len(texts)
    uids = [f"{i + 1:032x}" for i in range(n)]
    shard = np.arange(n) // 2
    keys = [f"{s:04d}{i % 2:05d}" for i, s in enumerate(shard)]
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array(shard, pa.int32()), "key": pa.array(keys),
                                 "chunk": pa.array(shard // 2, pa.int32())}), "results/pool/index.parquet",
                       fingerprint=uidcodec.uid_fingerprint(pa.array(uids)))
    for s in range(4):
        r = np.flatnonzero(shard == s)[::-1]
        fileio.write_table(pa.table({"key": [keys[i] for i in r], "caption": [texts[i] for i in r],
                                     "face_bboxes": pa.array([boxes[i] for i in r], pa.list_(pa.list_(pa.float64())))}),
                           f"results/pool/shards/{s:08d}.parquet")
    return {"texts": texts, "uids": uids}


def _run(name, staged):
    plan = plan_score(CONFIG, name).to_dict()
    chunks = ["00000", "00001"]
    if staged:
        for c in chunks:
            run_prepare(plan, stage_files(plan, "prepare", chunk=c), stage_path(name, "prepare", c), int(c))
        run_fit(plan, stage_files(plan, "fit", chunks=chunks), stage_path(name, "fit"))
    for c in chunks:
        if staged:
            run_apply(plan, stage_files(plan, "apply", chunk=c), stage_path(name, "apply", c), int(c))
        else:
            run_score(plan, stage_files(plan, "apply", chunk=c), stage_path(name, "apply", c), chunk=int(c))
    run_gather(plan, stage_files(plan, "gather", chunks=chunks), stage_path(name, "gather"))
    return scorefiles.read_scores(stage_path(name, "gather"), "results/pool/index.parquet")


def test_frequent_captions_staged_through_the_runner(pool):
    t = _run("freq", staged=True)
    # "a cat" x3 (one spelt "A cat!"), "a dog" x3: more than 2, removed across both chunks
    assert list(t["keep"]) == [False, False, False, True, False, False, True, False]


def test_face_area_through_the_runner(pool):
    t = _run("faces", staged=False)
    assert list(t["keep"]) == [True, False, True, True, True, True, True, True]


def test_a_bad_face_box_names_file_row_and_column(pool):
    bad = pa.table({"key": ["000100000", "000100001"], "caption": ["a", "b"],
                    "face_bboxes": pa.array([[[0.1, 0.1, 0.2, 0.2]], [[0.1, 0.2, 0.3]]], pa.list_(pa.list_(pa.float64())))})
    fileio.write_table(bad, "results/pool/shards/00000001.parquet")
    with pytest.raises(fileio.ContractError, match=r"00000001\.parquet: row 1, column 'face_bboxes': box \[0\.1, 0\.2, 0\.3\]"):
        _run("faces", staged=False)


# --------------------------------------------------------------------------------------------
# config


def test_the_config_file_plans():
    """config/scores/devil_rules.yaml's entries, planned with the repository's config (merged as the workflow does)."""
    import yaml
    from pathlib import Path

    from clipcurate.config import check as config_check

    root = Path(__file__).resolve().parents[2]
    entries = yaml.safe_load((root / "config" / "scores" / "devil_rules.yaml").read_text())
    assert {"english", "caption_length", "pos_noun", "frequent_captions", "aspect_ratio", "face_area",
            "devil_text_rules", "devil_image_rules"} <= set(entries)
    config = {"pool": {"source": "world"}, "models": {}, "mixes": {}, "scores": {},
              "taggers": yaml.safe_load((root / "config" / "config.yaml").read_text())["taggers"]}
    config_check.merge_named_files(config, root, "scores")
    for name in entries:
        plan = plan_score(config, name)
        assert plan.method == entries[name]["method"]
    assert plan_score(config, "pos_noun").inputs["tagger"]["path"] == "results/taggers/world/averaged_perceptron_tagger_eng.weights.json"


@pytest.mark.parametrize("entry,match", [
    ({"method": "caption_length", "params": {"unit": "tokens"}}, r"x\.params\.unit: 'tokens'; expected 'words' or 'chars'"),
    ({"method": "caption_length", "params": {"min_len": 5, "max_len": 4}}, r"x\.params\.max_len: 4; expected at least min_len"),
    ({"method": "frequent_captions", "params": {"max_count": 10}}, r"exactly one of max_count"),
    ({"method": "frequent_captions", "params": {"max_share": 2}}, r"x\.params\.max_share: 2; expected a number in \(0, 1\)"),
    ({"method": "aspect_ratio", "params": {"max_aspect": 0.5}}, r"x\.params\.max_aspect: 0\.5"),
    ({"method": "face_area", "params": {"max_face_area": 1.5}}, r"x\.params\.max_face_area: 1\.5"),
    ({"method": "pos_noun", "tagger_model": "/nowhere/tagger.bin"}, r"x\.tagger_model: .*averaged_perceptron_tagger_"),
    ({"method": "pos_noun", "tagger_model": "results/taggers/t/averaged_perceptron_tagger_eng.weights.json", "params": {"tags": []}}, r"x\.params\.tags"),
    ({"method": "pos_noun"}, r"x\.tagger_model: required"),
])
def test_bad_entries_are_named(entry, match):
    config = copy.deepcopy(CONFIG)
    config["scores"]["x"] = entry
    with pytest.raises((PlanError, ValueError), match=match):
        plan_score(config, "x")


def test_merge_counts_against_a_counter_on_random_tables():
    rng = np.random.default_rng(7)
    table = (np.empty(0, np.uint64), np.empty(0, np.int64))
    total = collections.Counter()
    for _ in range(20):
        keys = rng.integers(0, 50, size=int(rng.integers(0, 40))).astype(np.uint64)
        total.update(keys.tolist())
        table = R.merge_counts(table, R.count_keys(keys))
        assert (np.diff(table[0].astype(np.int64)) > 0).all()  # sorted and distinct
        assert dict(zip(table[0].tolist(), table[1].tolist())) == dict(total)
