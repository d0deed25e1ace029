"""Evaluation suites and results without the model runner: what table, mix and figure jobs need.

A suite (``config/tasks/*.yaml``) lists tasks with their clip_benchmark dataset, task type, main
metric and group. :func:`load_suite` validates one, :func:`read_jsonl` reads the
``eval_results.jsonl`` lines :mod:`clipcurate.evaluate.run` writes, and :func:`aggregate` reduces them
to DataComp's five aggregates with the same rules for the tiny suite and the real 38-task suite.

Nothing here imports torch, open_clip or clip_benchmark, so the jobs that only aggregate (tables,
mixes weighted by accuracy, figures) run in the light ``data`` environment and start in a fraction
of the time; running a model on a suite is :mod:`clipcurate.evaluate.run`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Mapping

import yaml

GROUPS = ("ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Other")
AGGREGATES = ("ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Average")


class SuiteError(ValueError):
    pass


def load_suite(path: str | os.PathLike | Mapping) -> dict:
    """Load and validate a task suite file, or validate a suite's content already loaded (rules
    pass the content as a param, so that no absolute path reaches a param)."""
    if isinstance(path, Mapping):
        suite, path = dict(path), "evaluation suite"
    else:
        path = Path(path)
        suite = yaml.safe_load(path.read_text())
    tasks = suite.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise SuiteError(f"{path}: 'tasks' must be a non-empty list")
    seen = set()
    for i, t in enumerate(tasks):
        for key in ("key", "name", "task", "group"):
            if key not in t:
                raise SuiteError(f"{path}: tasks[{i}] has no '{key}'")
        if t["key"] in seen:
            raise SuiteError(f"{path}: task key {t['key']!r} appears twice")
        seen.add(t["key"])
        if t["main_metric"] is not None and t["group"] not in GROUPS:
            raise SuiteError(f"{path}: tasks[{i}] ({t['key']}) group {t['group']!r} is not one of {GROUPS}")
    imagenet = [t for t in tasks if t.get("main_metric") is not None and t["group"] == "ImageNet"]
    if len(imagenet) != 1:
        raise SuiteError(f"{path}: exactly one scored task must be in group 'ImageNet', found {len(imagenet)}")
    return suite


def scored_tasks(suite: Mapping) -> list[dict]:
    return [t for t in suite["tasks"] if t.get("main_metric") is not None]



def read_jsonl(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise SuiteError(f"{path}: evaluation results not found")
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as e:
            raise SuiteError(
                f"{path}:{number}: not a JSON line ({e.msg} at column {e.colno}); expected one JSON object "
                "per task. The file is truncated or corrupt: delete it and rerun the evaluation"
            ) from None
        if not isinstance(line, dict) or not isinstance(line.get("key"), str) or not isinstance(line.get("metrics"), dict):
            raise SuiteError(f"{path}:{number}: expected an object with a string 'key' and a 'metrics' object, got {text[:200]}")
        lines.append(line)
    return lines


def aggregate(lines: Iterable[Mapping], suite: Mapping, source: str = "results") -> dict:
    """DataComp's aggregate_scores: drop null/NaN main metrics, require every scored task exactly
    once, then ImageNet = the ImageNet task, the group means, and Average = mean of all scored tasks."""
    expected = {t["key"]: t for t in scored_tasks(suite)}
    for l in lines:  # DataComp drops a null/NaN main metric and then reports the task as missing
        v = l["metrics"].get("main_metric")
        if l["key"] not in expected or v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SuiteError(
                f"{source}: task {l['key']!r}: main_metric is {v!r}; expected a finite number "
                "(the task's evaluation failed: see the evaluation log, delete the file and rerun)"
            )
    scored = [l for l in lines if l["metrics"].get("main_metric") is not None and not math.isnan(l["metrics"]["main_metric"])]
    keys = [l["key"] for l in scored]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise SuiteError(f"{source}: tasks appear more than once: {dupes}")
    missing = sorted(set(expected) - set(keys))
    if missing:
        raise SuiteError(f"{source}: {len(missing)} of {len(expected)} scored tasks are missing: {missing}")
    extra = sorted(set(keys) - set(expected))
    if extra:
        raise SuiteError(f"{source}: tasks not in the suite: {extra}")
    value = {l["key"]: float(l["metrics"]["main_metric"]) for l in scored}

    def mean(group):
        vals = [value[k] for k, t in expected.items() if t["group"] == group]
        return sum(vals) / len(vals) if vals else float("nan")

    return {
        "ImageNet": mean("ImageNet"),
        "ImageNet dist. shifts": mean("ImageNet dist. shifts"),
        "VTAB": mean("VTAB"),
        "Retrieval": mean("Retrieval"),
        "Average": sum(value.values()) / len(value),
    }


def imagenet_accuracy(eval_path: str | os.PathLike, suite: Mapping) -> float:
    """The ImageNet aggregate of one evaluation file (e.g. to weight a score by it, FLYT C.5)."""
    return aggregate(read_jsonl(eval_path), suite, source=str(eval_path))["ImageNet"]


def resolve_recipe_accuracies(values: Mapping, eval_files: Mapping[str, str], suite: Mapping, key: str) -> dict:
    """Replace ``"recipe:NAME"`` values by the ImageNet accuracy of that recipe's evaluation.

    Numbers pass through. ``eval_files`` maps recipe names to their ``results/eval`` files.
    """
    out = {}
    for name, v in values.items():
        if isinstance(v, str):
            kind, _, recipe = v.partition(":")
            if kind != "recipe" or recipe not in eval_files:
                raise SuiteError(f"{key}[{name!r}]: expected a number or 'recipe:<name>' of an evaluated recipe, got {v!r}")
            v = imagenet_accuracy(eval_files[recipe], suite)
        out[name] = v
    return out
