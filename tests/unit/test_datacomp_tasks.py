"""DataComp's WILDS, fairness and WinoGAViL metrics, and resumable evaluation."""

import io as _io
import json

import numpy as np
import open_clip
import pytest
import torch
import webdataset as wds
from PIL import Image

from clipcurate.evaluate import datacomp_tasks as dt
from clipcurate.evaluate import run as evaluate
from clipcurate.embed import models


def test_group_eval_hand_computed():
    out = dt.group_eval([1, 0, 1, 1, 0, 0], [0, 0, 1, 1, 2, 2], "acc", field="region")
    assert out["acc_avg"] == 0.5
    assert (out["acc_region:0"], out["acc_region:1"], out["acc_region:2"]) == (0.5, 1.0, 0.0)
    assert (out["count_region:0"], out["count_region:2"]) == (2, 2)
    assert out["acc_wg"] == 0.0


def test_fmow_worst_region_and_year_hand_computed():
    # argmax predictions: 0, 1, 1, 0 against labels 0, 1, 0, 0 -> correct 1, 1, 0, 1
    logits = np.array([[2, 1], [0, 3], [1, 4], [5, 0]], float)
    target = np.array([0, 1, 0, 0])
    metadata = np.array([[0, 2010, 0], [1, 2011, 1], [1, 2010, 0], [5, 2011, 0]])  # region, year, y
    out = dt.classification_group_metrics("wilds/fmow", logits, target, metadata)
    assert out["acc_avg"] == 0.75
    assert out["acc_worst_region"] == 0.5  # region 1: 1 of 2; regions 0 and 5 (Other): 1 of 1
    assert out["acc_worst_year"] == 0.5    # 2010: 1 of 2; 2011: 2 of 2
    assert out["acc_year:2011"] == 1.0 and out["acc_region:5"] == 1.0 and out["count_region:1"] == 2


def test_dollar_street_top5_by_income_group_brute_force():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 12))
    target = rng.integers(0, 12, 40)
    income = rng.integers(0, 4, 40)
    out = dt.classification_group_metrics("fairness/dollar_street", logits, target, np.stack([income, income, income], 1))
    hit = [target[i] in sorted(range(12), key=lambda c: -logits[i, c])[:5] for i in range(40)]
    per_group = [np.mean([h for h, g in zip(hit, income) if g == k]) for k in sorted(set(income))]
    assert out["acc_top5_avg"] == pytest.approx(np.mean(hit))
    assert out["acc_top5_wg"] == pytest.approx(min(per_group))


def test_iwildcam_macro_f1_counts_only_labels_present():
    logits = np.eye(4)[[0, 0, 1, 3, 2, 1]]  # predictions 0 0 1 3 2 1; class 3 is predicted but absent
    target = np.array([0, 1, 1, 2, 2, 1])
    out = dt.classification_group_metrics("wilds/iwildcam", logits, target, np.zeros((6, 1)))
    # per class (tp, fp, fn): 0 -> (1, 1, 0), 1 -> (2, 0, 1), 2 -> (1, 0, 1)
    f1 = [2 * 1 / (2 * 1 + 1 + 0), 2 * 2 / (2 * 2 + 0 + 1), 2 * 1 / (2 * 1 + 0 + 1)]
    recall = [1.0, 2 / 3, 1 / 2]
    assert out["F1-macro_all"] == pytest.approx(np.mean(f1))
    assert out["recall-macro_all"] == pytest.approx(np.mean(recall))
    assert out["acc_avg"] == pytest.approx(4 / 6)


def test_winogavil_jaccard_hand_computed():
    five = ([0.9, 0.1, 0.5, 0.3, 0.2], [1, 0, 0, 1, 0])           # top-2 = {0, 2}, gold {0, 3}: 1/3
    ten = (np.arange(10.0), np.isin(np.arange(10), [9, 8, 7]))    # top-3 = gold: 1
    out = dt.winogavil_scores([five, ten])
    assert out["jaccard_score_5"] == pytest.approx(1 / 3)
    assert out["jaccard_score_10-12"] == 1.0
    assert out["avg_jaccard_score"] == pytest.approx((1 / 3 + 1) / 2)
    assert np.isnan(out["jaccard_score_12"])


def test_winogavil_prompt():
    assert dt.clip_prompt("Apple") == "An apple" and dt.clip_prompt("dog") == "A dog"


# --------------------------------------------------------------------------------------------
# on a webdataset task with a real (untrained) tiny CLIP


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    models.register_tiny_configs()
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip")
    path = tmp_path_factory.mktemp("model") / "open_clip_pytorch_model.bin"
    torch.save(model.state_dict(), path)
    return {"arch": "tiny-clip", "pretrained": str(path)}


def write_group_task(root, n=30, classes=("circle", "square", "star", "ring", "cross", "arrow")):
    """A clip_benchmark webdataset task whose samples carry metadata (group = i % 3) in ``npy``."""
    rng = np.random.default_rng(1)
    (root / "test").mkdir(parents=True)
    with wds.TarWriter(str(root / "test" / "0.tar")) as w:
        for i in range(n):
            buf = _io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buf, format="JPEG")
            w.write({"__key__": f"s{i:04d}", "jpg": buf.getvalue(), "cls": str(i % len(classes)).encode(),
                     "npy": np.array([i % 3, 7], dtype=np.int64)})
    (root / "test" / "nshards.txt").write_text("1")
    (root / "classnames.txt").write_text("\n".join(classes) + "\n")
    (root / "zeroshot_classification_templates.txt").write_text("a photo of a {c}.\n")
    return root


def test_geode_groups_agree_with_clip_benchmarks_accuracy(tmp_path, tiny_weights):
    root = str(write_group_task(tmp_path / "fairness-geode"))
    task = {"key": "fairness/geode", "name": "GeoDE", "dataset": "wds/fairness-geode",
            "task": "zeroshot_classification", "main_metric": "acc_wg", "evaluator": "datacomp"}
    ours = dt.evaluate_special_task(tiny_weights, task, root, batch_size=8)
    plain = evaluate.run_clip_benchmark(tiny_weights, task, root, 8, str(tmp_path / "out.json"))
    assert ours["acc1"] == pytest.approx(plain["acc1"]) and ours["acc5"] == pytest.approx(plain["acc5"])
    assert ours["mean_per_class_recall"] == pytest.approx(plain["mean_per_class_recall"])
    assert ours["acc_avg"] == pytest.approx(plain["acc1"])
    groups = [ours[f"acc_region:{g}"] for g in range(3)]
    assert [ours[f"count_region:{g}"] for g in range(3)] == [10, 10, 10]
    assert np.mean(groups) == pytest.approx(ours["acc_avg"]) and ours["acc_wg"] == min(groups)
    assert evaluate.datacomp_line(task, ours)["metrics"]["main_metric"] == ours["acc_wg"]


def test_unscored_fairness_task_has_a_null_main_metric(tiny_weights):
    task = {"key": "fairness/fairface", "name": "FairFace", "task": "zeroshot_classification", "main_metric": None}
    line = evaluate.datacomp_line(task, dt.evaluate_special_task(tiny_weights, task, "unused", 8))
    assert line["metrics"]["main_metric"] is None and "not scored" in line["metrics"]["note"]


def test_a_failed_evaluation_keeps_finished_tasks(tmp_path, monkeypatch, tiny_weights):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    suite = {"tasks": [{"key": k, "name": k, "task": "zeroshot_classification", "main_metric": "acc1",
                        "group": "ImageNet" if k == "a" else "Other"} for k in ("a", "b", "c")]}
    calls, failed = [], []

    def fake(model_spec, task, root, batch_size, out_json):
        calls.append(task["key"])
        if task["key"] == "c" and not failed:
            failed.append(True)
            raise RuntimeError("GPU fell over")
        return {"acc1": 0.1 * len(task["key"]), "acc5": 1.0, "mean_per_class_recall": 0.1}

    monkeypatch.setattr(evaluate, "run_clip_benchmark", fake)
    out = tmp_path / "eval" / "r.jsonl"
    with pytest.raises(RuntimeError, match="GPU fell over"):
        evaluate.evaluate_model(tiny_weights, suite, str(tmp_path / "{dataset}"), out, log=lambda m: None)
    assert not out.exists() and len((tmp_path / "eval" / "r.jsonl.partial").read_text().splitlines()) == 3
    lines = evaluate.evaluate_model(tiny_weights, suite, str(tmp_path / "{dataset}"), out, log=lambda m: None)
    assert calls == ["a", "b", "c", "c"]  # the rerun evaluated only the missing task
    assert [json.loads(l)["key"] for l in out.read_text().splitlines()] == ["a", "b", "c"] == [l["key"] for l in lines]
    assert not (tmp_path / "eval" / "r.jsonl.partial").exists()
    # other weights: nothing is reused
    other = {**tiny_weights, "pretrained": str(tmp_path / "other.bin")}
    calls.clear()
    (tmp_path / "eval" / "r.jsonl.partial").write_text(json.dumps({"model": evaluate._model_stamp(tiny_weights)}) + "\n"
                                                        + json.dumps(lines[0]) + "\n")
    evaluate.evaluate_model(other, suite, str(tmp_path / "{dataset}"), out, log=lambda m: None)
    assert calls == ["a", "b", "c"]
