"""DataComp aggregation and the task suites."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from clipcurate.evaluate.results import SuiteError, aggregate, load_suite, resolve_recipe_accuracies, scored_tasks
from clipcurate.evaluate.run import datacomp_line

REPO = Path(__file__).resolve().parents[2]


def test_datacomp38_suite_matches_datacomp_tasklist():
    suite = load_suite(REPO / "config/tasks/datacomp38.yaml")
    assert len(suite["tasks"]) == 40
    scored = scored_tasks(suite)
    assert len(scored) == 38
    groups = {}
    for t in scored:
        groups[t["group"]] = groups.get(t["group"], 0) + 1
    # DataComp: ImageNet 1, dist. shifts 6, VTAB 13 (SUN397 included), Retrieval 3, Other 15
    assert groups == {"ImageNet": 1, "ImageNet dist. shifts": 6, "VTAB": 13, "Retrieval": 3, "Other": 15}
    by_key = {t["key"]: t for t in suite["tasks"]}
    assert by_key["sun397"]["group"] == "VTAB"
    assert by_key["vtab/pets"]["main_metric"] == "MPCR"
    assert by_key["fairness/geode"]["main_metric"] == "acc_wg"
    assert by_key["fairness/fairface"]["main_metric"] is None
    assert by_key["retrieval/flickr_1k_test_image_text_retrieval"]["task"] == "zeroshot_retrieval"


def test_tiny_suite_has_required_groups():
    suite = load_suite(REPO / "config/tasks/tiny.yaml")
    groups = [t["group"] for t in scored_tasks(suite)]
    assert groups.count("ImageNet") == 1
    assert groups.count("ImageNet dist. shifts") >= 2
    assert groups.count("VTAB") >= 5
    assert groups.count("Retrieval") >= 2
    assert groups.count("Other") >= 2


def _suite():
    return {"tasks": [
        {"key": "in", "name": "IN", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet"},
        {"key": "s1", "name": "S1", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet dist. shifts"},
        {"key": "s2", "name": "S2", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet dist. shifts"},
        {"key": "v1", "name": "V1", "task": "zeroshot_classification", "main_metric": "MPCR", "group": "VTAB"},
        {"key": "r1", "name": "R1", "task": "zeroshot_retrieval", "main_metric": "mean_recall@1", "group": "Retrieval"},
        {"key": "o1", "name": "O1", "task": "zeroshot_classification", "main_metric": "acc1", "group": "Other"},
        {"key": "u", "name": "U", "task": "zeroshot_classification", "main_metric": None, "group": "Other"},
    ]}


def _lines():
    s = _suite()["tasks"]
    return [
        datacomp_line(s[0], {"acc1": 0.5, "acc5": 0.9, "mean_per_class_recall": 0.4}),
        datacomp_line(s[1], {"acc1": 0.2, "mean_per_class_recall": 0.1}),
        datacomp_line(s[2], {"acc1": 0.4, "mean_per_class_recall": 0.1}),
        datacomp_line(s[3], {"acc1": 0.9, "mean_per_class_recall": 0.3}),
        datacomp_line(s[4], {"image_retrieval_recall@1": 0.1, "text_retrieval_recall@1": 0.3}),
        datacomp_line(s[5], {"acc1": 0.6, "mean_per_class_recall": 0.6}),
        datacomp_line(s[6], {"acc1": 0.0}),
    ]


def test_datacomp_lines_and_aggregates_hand_computed():
    lines = _lines()
    assert lines[3]["metrics"]["main_metric"] == 0.3  # MPCR = mean per-class recall
    assert lines[4]["metrics"]["mean_recall@1"] == pytest.approx(0.2)
    assert lines[6]["metrics"]["main_metric"] is None
    json.dumps(lines)  # jsonl-serialisable
    agg = aggregate(lines, _suite())
    assert agg["ImageNet"] == 0.5
    assert agg["ImageNet dist. shifts"] == pytest.approx(0.3)
    assert agg["VTAB"] == pytest.approx(0.3)
    assert agg["Retrieval"] == pytest.approx(0.2)
    # unweighted mean over all scored tasks, the unscored one dropped
    assert agg["Average"] == pytest.approx((0.5 + 0.2 + 0.4 + 0.3 + 0.2 + 0.6) / 6)


def test_aggregate_rejects_missing_and_duplicate_tasks():
    lines = _lines()
    with pytest.raises(SuiteError, match=r"missing: \['o1'\]"):
        aggregate(lines[:5], _suite())
    with pytest.raises(SuiteError, match=r"more than once: \['s1'\]"):
        aggregate(lines + [lines[1]], _suite())
    nan = dict(lines[5], metrics={"main_metric": math.nan})
    with pytest.raises(SuiteError, match=r"task 'o1': main_metric is nan; expected a finite number"):
        aggregate(lines[:5] + [nan], _suite())


def test_suite_validation_names_the_problem(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("tasks:\n  - {key: a, name: A, task: zeroshot_classification, main_metric: acc1, group: Nope}\n")
    with pytest.raises(SuiteError, match=r"tasks\[0\] \(a\) group 'Nope'"):
        load_suite(p)


def test_tiny_suite_covers_exactly_the_world_eval_tasks():
    from clipcurate.world import EVAL_GROUPS, eval_task_names

    suite = load_suite(REPO / "config/tasks/tiny.yaml")
    assert [t["key"] for t in suite["tasks"]] == eval_task_names()


def test_recipe_accuracies_resolve_to_the_imagenet_aggregate(tmp_path):
    suite = {"tasks": [{"key": "imagenet1k", "group": "ImageNet", "main_metric": "acc1"},
                       {"key": "cars", "group": "VTAB", "main_metric": "acc1"}]}
    lines = [{"key": "imagenet1k", "dataset": "x", "metrics": {"main_metric": 0.25}},
             {"key": "cars", "dataset": "y", "metrics": {"main_metric": 0.5}}]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    got = resolve_recipe_accuracies({"a": "recipe:r", "b": 0.1}, {"r": tmp_path / "r.jsonl"}, suite, "mixes.m.params.in_accuracy")
    assert got == {"a": 0.25, "b": 0.1}
    with pytest.raises(SuiteError, match=r"mixes\.m\.params\.in_accuracy\['a'\]: expected a number or 'recipe:<name>'"):
        resolve_recipe_accuracies({"a": "recipe:other"}, {"r": tmp_path / "r.jsonl"}, suite, "mixes.m.params.in_accuracy")


def test_aggregation_imports_no_model_code():
    """Table, mix and figure jobs aggregate without torch (they run in the data environment)."""
    code = (
        "import sys\n"
        "import clipcurate.evaluate.results, clipcurate.report.tables, clipcurate.report.plots\n"
        "print(sorted(m for m in ('torch', 'open_clip', 'clip_benchmark', 'webdataset') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "[]"
    # the runner does load the model code, so the check above can see it
    code = "import sys, clipcurate.evaluate.run; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "True"


def test_evaluate_reexports_the_aggregation():
    from clipcurate.evaluate import results as eval_results, run as evaluate

    for name in ("aggregate", "load_suite", "read_jsonl", "SuiteError", "AGGREGATES", "imagenet_accuracy"):
        assert getattr(evaluate, name) is getattr(eval_results, name)
