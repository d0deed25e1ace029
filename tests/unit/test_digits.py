"""Digit enhancement (Devil paper): the world's digit labels, the detector trained on them, the
enhanced counts, the ``digits`` score through its runner, and the BLIP-2 loader with a tiny randomly
initialised checkpoint saved here and loaded through the same ``from_pretrained`` calls."""

from __future__ import annotations

import copy
import re
import io as stdio
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clipcurate.scores.helpers import digit_detect as D
from clipcurate.train import digit_labels as L
from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.scores.methods.digits import enhance
from clipcurate.scores.plan import PlanError, plan_score, score_files
from clipcurate.scores.runner import run_score

BASE_URL = "http://127.0.0.1:1/"
WORLD = {"pool_size": 10, "sizes": {"pretrain": 10, "hq": 1500, "downstream": 10, "retrieval_train": 10, "eval_per_task": 5},
         "shard_size": 500}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from clipcurate.world.generate import generate_world

    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, WORLD, BASE_URL, seed=3)
    return out


def _pixels(world):
    """Each hq image as 16x16 grey pixels (features independent of any model), in key order."""
    from PIL import Image

    from clipcurate.embed.encode import iter_reference_samples

    keys, feats, captions = [], [], []
    for key, img, caption, _ in iter_reference_samples(world / "reference" / "hq"):
        a = np.asarray(Image.open(stdio.BytesIO(img)).convert("L").resize((16, 16)), np.float32).reshape(-1) / 255.0
        keys.append(key)
        feats.append(a - a.mean())
        captions.append(caption)
    return keys, np.stack(feats), captions


def test_world_digit_labels_are_the_digit_scenes(world):
    labels = L.world_digit_labels(world, "hq")
    keys, _, captions = _pixels(world)
    assert len(labels) == 1500
    # independent reading: the world captions a digit scene with "digit", "number" or the digit itself
    # (clipcurate.world.concepts.caption_en), a shape scene with none of them
    rows = L.embedding_rows(keys)
    assert np.array_equal(labels[rows], np.array([re.search(r"digit|number|[0-9]", c) is not None for c in captions]))
    assert 0.03 < labels.mean() < 0.10  # the world's digit_fraction is 0.06


def test_world_digit_labels_refuse_another_world(world, tmp_path):
    import json
    import shutil

    other = tmp_path / "w"
    shutil.copytree(world, other)
    meta = json.loads((other / "world.json").read_text())
    meta["seed"] = 4  # the manifest no longer describes these shards
    (other / "world.json").write_text(json.dumps(meta))
    with pytest.raises(D.DigitError, match=r"reference/hq: sample .* is not the generator's sample"):
        L.world_digit_labels(other, "hq")


@pytest.mark.parametrize("hidden", [0, 256])
def test_detector_on_held_out_world_samples_beats_the_floor(world, hidden):
    labels = L.world_digit_labels(world, "hq")
    keys, x, _ = _pixels(world)
    y = labels[L.embedding_rows(keys)]
    det = D.train_detector(x, y, hidden=hidden, c=1.0, holdout=0.3, seed=0, balanced=True)
    # the floor: always "no" (balanced accuracy 0.5, accuracy the majority share 0.93). Measured on these
    # pixel features (world seed 3, split seed 0): logistic regression balanced accuracy 0.82 (recall
    # 0.73, precision 0.34), the MLP 0.88 (accuracy 0.98, recall 0.77, precision 1.0)
    assert det["holdout_balanced_accuracy"] > 0.7, det
    assert det["holdout_recall"] > 0.6, det
    if hidden:
        assert det["holdout_accuracy"] > det["majority_accuracy"] + 0.02, det
    p = D.detector_probability(x, det)
    assert p.shape == (len(x),) and ((p >= 0) & (p <= 1)).all()
    assert p[y].mean() > p[~y].mean() + 0.3


def test_detector_round_trip_and_dimension_check(tmp_path):
    det = {"layers": [(np.array([[1.0], [-1.0]], np.float32), np.array([0.5], np.float32))]}
    D.save_detector(tmp_path / "d.npz", det, {"x": 1})
    back = D.load_detector(tmp_path / "d.npz")
    np.testing.assert_allclose(D.detector_probability(np.array([[1.0, 0.0], [0.0, 2.0]]), back),
                               1 / (1 + np.exp(-np.array([1.5, -1.5]))), rtol=1e-6)
    # an MLP by hand: relu([x0 - x1, x1]) . [2, -1] - 1
    mlp = {"layers": [(np.array([[1.0, 0.0], [-1.0, 1.0]], np.float32), np.zeros(2, np.float32)),
                      (np.array([[2.0], [-1.0]], np.float32), np.array([-1.0], np.float32))]}
    D.save_detector(tmp_path / "m.npz", mlp, {})
    x = np.array([[3.0, 1.0], [0.0, 2.0]], np.float32)  # hidden [2, 1] -> 2; [0, 2] -> -3
    np.testing.assert_allclose(D.detector_probability(x, D.load_detector(tmp_path / "m.npz")),
                               1 / (1 + np.exp(-np.array([2.0, -3.0]))), rtol=1e-6)
    with pytest.raises(D.DigitError, match="takes dimension 2"):
        D.detector_probability(np.zeros((1, 3)), back)


def test_enhance_hand_computed():
    base = np.array([0, 1, 2, 0, 1], np.uint32)
    digit = np.array([True, True, False, False, False])
    assert enhance(base, digit, "add_back", 1).tolist() == [1, 1, 2, 0, 1]
    assert enhance(base, digit, "add_back", 3).tolist() == [3, 1, 2, 0, 1]
    assert enhance(base, digit, "upweight", 3).tolist() == [0, 3, 2, 0, 1]
    assert enhance(np.array([False, True]), np.array([True, True]), "upweight", 2).tolist() == [0, 2]


@pytest.mark.parametrize("answer, want", [("yes", True), (" Yes, it does.", True), ("no", False), ("No.", False),
                                          ("", None), ("maybe", None), ("3", None), ("yesterday", None)])
def test_parse_yes_no(answer, want):
    assert D.parse_yes_no(answer) is want


def test_digits_score_through_the_runner(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uids = [f"{i + 1:032x}" for i in range(6)]
    fp = uidcodec.uid_fingerprint(pa.array(uids))
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array([0] * 6, pa.int32()), "key": pa.array(uids),
                                 "chunk": pa.array([0] * 6, pa.int32())}), "results/pool/index.parquet", fingerprint=fp)
    img = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]], np.float32)
    Path("results/embeddings/m").mkdir(parents=True)
    pq.write_table(pa.table({"uid": pa.array(uids), "image": pa.FixedSizeListArray.from_arrays(pa.array(img.reshape(-1)), 2)}),
                   "results/embeddings/m/00000.parquet")
    scorefiles.write_scores("results/scores/prev.parquet", pa.array(uids), {"count": np.array([0, 2, 0, 1, 1, 3], np.uint32)}, fingerprint=fp)
    Path("results/digit_detectors/d").mkdir(parents=True)
    D.save_detector("results/digit_detectors/d/detector.npz",
                    {"layers": [(np.array([[4.0], [-4.0]], np.float32), np.zeros(1, np.float32))]}, {})
    config = {"pool": {"source": "world"}, "models": {"m": {"arch": "x"}}, "digit_detectors": {"d": {"model": "m", "set": "hq"}},
              "scores": {"prev": {"method": "x"}, "dig": {"method": "digits", "model": "m", "detector": "d", "base": "prev:count",
                                                          "params": {"mode": "add_back", "weight": 2}}}}
    plan = plan_score(config, "dig")
    assert plan.inputs["detector"]["path"] == "results/digit_detectors/d/detector.npz"
    run_score(plan.to_dict(), score_files(plan, chunk="00000"), "out.parquet", chunk=0)
    got = pq.read_table("out.parquet")
    # digit rows (image [1, 0]): 0, 1, 4; row 0 dropped by the base comes back with 2 copies
    assert got.column("count").to_pylist() == [2, 2, 0, 1, 1, 3]
    assert got.column("keep").to_pylist() == [True, True, False, True, True, True]
    bad = copy.deepcopy(config)
    bad["scores"]["dig"]["model"] = "other"
    bad["models"]["other"] = {"arch": "x"}
    with pytest.raises(PlanError, match=r"scores\.dig\.model .* digit_detectors\.d\.model"):
        plan_score(bad, "dig")
    bad = copy.deepcopy(config)
    bad["scores"]["dig"]["params"]["mode"] = "replace"
    with pytest.raises(PlanError, match=r"scores\.dig\.params\.mode"):
        plan_score(bad, "dig")


# --------------------------------------------------------------------------------------------
# BLIP-2 at real scale: a tiny random checkpoint through the same loader


def _save_tiny_blip2(path: Path) -> None:
    import json

    import torch
    from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor, Blip2QFormerConfig,
                              Blip2VisionConfig, BlipImageProcessor, OPTConfig, PreTrainedTokenizerFast)

    words = ["<pad>", "<unk>", "</s>", "<s>", "question:", "does", "this", "image", "show", "digits", "or",
             "numbers?", "answer:", "yes", "no"]
    vocab = {w: i for i, w in enumerate(words)}
    vocab.update({f"w{i}": i for i in range(len(words), 60)})
    # a word-level tokenizer in the tokenizers library's JSON format, read by transformers' fast tokenizer
    spec = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": None, "decoder": None,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}}
    path.mkdir(parents=True, exist_ok=True)
    (path / "word_tokenizer.json").write_text(json.dumps(spec))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path / "word_tokenizer.json"), pad_token="<pad>", unk_token="<unk>",
                                  eos_token="</s>", bos_token="<s>")
    proc = Blip2Processor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok, num_query_tokens=4)
    cfg = Blip2Config(
        vision_config=Blip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                        image_size=32, patch_size=8).to_dict(),
        qformer_config=Blip2QFormerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                          encoder_hidden_size=32, vocab_size=64).to_dict(),
        text_config=OPTConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, ffn_dim=64, num_attention_heads=2,
                              max_position_embeddings=64, word_embed_proj_dim=32).to_dict(),
        num_query_tokens=4)
    cfg.image_token_index = proc.tokenizer.convert_tokens_to_ids("<image>")
    torch.manual_seed(0)
    Blip2ForConditionalGeneration(cfg).save_pretrained(path)
    proc.save_pretrained(path)


@pytest.fixture(scope="module")
def tiny_blip2(tmp_path_factory):
    pytest.importorskip("transformers")
    path = tmp_path_factory.mktemp("blip2") / "tiny"
    _save_tiny_blip2(path)
    return path


def force_answer(model, processor, word: str) -> None:
    """Make the tiny BLIP-2 answer ``word`` to every question (its output head prefers that token)."""
    import torch

    head = model.get_output_embeddings()
    forced = torch.nn.Linear(head.in_features, head.out_features, bias=True)
    with torch.no_grad():
        forced.weight.zero_()
        forced.bias.fill_(-10.0)
        forced.bias[processor.tokenizer.convert_tokens_to_ids(word)] = 10.0
    model.set_output_embeddings(forced)


def _images(n):
    from PIL import Image

    return [Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)) for i in range(n)]


def test_blip2_loader_runs_the_saved_tiny_checkpoint(tiny_blip2):
    model, processor = D.load_blip2(tiny_blip2)
    assert type(model).__name__ == "Blip2ForConditionalGeneration" and not model.training
    answers, parsed = D.ask_blip2(model, processor, _images(5), batch_size=2)
    # a random model's answer is arbitrary: one answer per image, without the prompt, parsed or marked unparsed
    assert len(answers) == 5 and parsed.shape == (5,) and set(parsed.tolist()) <= {-1, 0, 1}
    assert not any("answer:" in a for a in answers)


@pytest.mark.parametrize("word, want", [("yes", 1), ("no", 0)])
def test_blip2_answers_are_decoded_after_the_prompt_and_parsed(tiny_blip2, word, want):
    model, processor = D.load_blip2(tiny_blip2)
    force_answer(model, processor, word)
    answers, parsed = D.ask_blip2(model, processor, _images(3), max_new_tokens=2)
    assert answers == [f"{word} {word}"] * 3
    assert parsed.tolist() == [want] * 3


def test_blip2_loader_names_a_missing_checkpoint(tmp_path):
    with pytest.raises(D.DigitError, match=r"no BLIP-2 checkpoint \(config.json\)"):
        D.load_blip2(tmp_path)
