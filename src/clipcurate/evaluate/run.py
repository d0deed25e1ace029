"""Zero-shot evaluation with clip_benchmark, written the way DataComp does it.

A suite (``config/tasks/*.yaml``) lists tasks with their clip_benchmark dataset, task type, main
metric and group. :func:`evaluate_model` runs clip_benchmark's own ``eval`` command in-process
(so the tiny architectures registered here are visible to it), or DataComp's own metrics for the
tasks that need them (:mod:`clipcurate.evaluate.datacomp_tasks`), and writes one line per task in
DataComp's ``eval_results.jsonl`` format. Reading, validating and aggregating those lines needs no
model and lives in :mod:`clipcurate.evaluate.results` (re-exported here), so that the jobs that only
aggregate never import torch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from clipcurate.core import fileio
from clipcurate.embed import models
from clipcurate.evaluate.results import (  # noqa: F401  (re-exported: the aggregation side)
    AGGREGATES,
    GROUPS,
    SuiteError,
    aggregate,
    imagenet_accuracy,
    load_suite,
    read_jsonl,
    resolve_recipe_accuracies,
    scored_tasks,
)
from clipcurate.core.progress import progress

# DataComp's metric names -> clip_benchmark's output keys
_METRIC_ALIASES = {"MPCR": "mean_per_class_recall", "mean_per_class_recall": "mean_per_class_recall"}


@contextlib.contextmanager
def _argv(argv: Sequence[str]):
    old = sys.argv
    sys.argv = list(argv)
    try:
        yield
    finally:
        sys.argv = old


def run_clip_benchmark(
    model_spec: Mapping, task: Mapping, dataset_root: str, batch_size: int, out_json: str, num_workers: int = 0
) -> dict:
    """Run ``clip_benchmark eval`` for one task in this process and return its metrics dict."""
    from clip_benchmark import cli

    models.register_tiny_configs()
    argv = [
        "clip_benchmark", "eval",
        "--dataset", task.get("dataset", f"wds/{task['key']}"),
        "--dataset_root", dataset_root,
        "--task", task["task"],
        "--model", model_spec["arch"],
        "--pretrained", str(model_spec.get("pretrained") or ""),
        "--model_type", "open_clip",
        "--batch_size", str(batch_size),
        "--num_workers", str(num_workers),
        "--output", out_json,
        "--recall_k", "1", "5", "10",
    ]
    with _argv(argv):
        _, base = cli.get_parser_args()
    cli.main_eval(base)
    return json.loads(Path(out_json).read_text())["metrics"]


def datacomp_line(task: Mapping, metrics: Mapping, num_samples: int | None = None) -> dict:
    """One ``eval_results.jsonl`` line: key, dataset, metrics (+ main_metric), as DataComp writes it,
    plus ``num_samples`` (the test images) and ``metrics.main_metric_se`` (its standard error,
    :mod:`clipcurate.report.uncertainty`), which DataComp's own aggregation ignores."""
    from clipcurate.report.uncertainty import task_se

    metrics = dict(metrics)
    if task["task"] == "zeroshot_retrieval":
        metrics["mean_recall@1"] = 0.5 * (metrics["image_retrieval_recall@1"] + metrics["text_retrieval_recall@1"])
    main = task.get("main_metric")
    if main is not None:
        key = _METRIC_ALIASES.get(main, main)
        if key not in metrics:
            raise SuiteError(f"task {task['key']}: main metric {main!r} not among {sorted(metrics)}")
        metrics["main_metric"] = metrics[key]
    else:
        metrics["main_metric"] = None
    se = task_se(task, metrics, num_samples)
    metrics["main_metric_se"] = None if math.isnan(se) else se
    return {"key": task["key"], "dataset": task["name"], "metrics": metrics, "num_samples": num_samples}


def evaluate_model(
    model_spec: Mapping,
    suite: Mapping,
    root_template: str,
    out_path: str | os.PathLike,
    batch_size: int = 256,
    log=print,
) -> list[dict]:
    """Evaluate every task of the suite and write the jsonl atomically.

    Tasks marked ``evaluator: datacomp`` go to :mod:`clipcurate.evaluate.datacomp_tasks`, the others to
    clip_benchmark's eval command. Each finished task is appended to ``{out_path}.partial``
    (headed by the model it belongs to), so a run that fails on one task keeps the others and a
    rerun with the same weights evaluates only what is missing.
    """
    from clipcurate.evaluate.datacomp_tasks import evaluate_special_task

    for task in suite["tasks"]:  # every dataset is there before hours of evaluation start
        root = _task_root(task, root_template)
        if not Path(root).exists():
            raise SuiteError(f"task {task['key']}: dataset directory {root} does not exist")
    partial = Path(str(out_path) + ".partial")
    done = _resume(partial, model_spec, log)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in progress(suite["tasks"], desc="evaluate", unit="tasks"):
            if task["key"] in done:
                lines.append(done[task["key"]])
                continue
            root = _task_root(task, root_template)
            if task.get("evaluator") == "datacomp":
                metrics = evaluate_special_task(model_spec, task, root, batch_size)
            else:
                metrics = run_clip_benchmark(model_spec, task, root, batch_size, os.path.join(tmp, "out.json"))
            line = datacomp_line(task, metrics, _num_samples(root))
            log(f"{task['key']}: main_metric={line['metrics']['main_metric']} "
                f"(se {line['metrics']['main_metric_se']}, {line['num_samples']} test samples)")
            lines.append(line)
            with open(partial, "a") as f:
                f.write(json.dumps(line) + "\n")
    with fileio.atomic_path(out_path) as tmp_path:
        tmp_path.write_text("".join(json.dumps(l) + "\n" for l in lines))
    partial.unlink()
    return lines


def _task_root(task: Mapping, root_template: str) -> str:
    dataset = task.get("dataset", f"wds/{task['key']}").removeprefix("wds/")
    return root_template.format(dataset=dataset)


def _num_samples(root: str) -> int | None:
    """The task's test images, counted in its webdataset shards (None for another layout: WinoGAViL's
    Hugging Face cache, whose evaluator writes its own standard error)."""
    from clipcurate.report.uncertainty import count_test_samples

    if not (Path(root) / "test" / "nshards.txt").exists():
        return None
    return count_test_samples(root)


def _model_stamp(model_spec: Mapping) -> dict:
    """The model a partial result belongs to: its spec, and size and mtime of a local checkpoint."""
    stamp = {"arch": model_spec["arch"], "pretrained": str(model_spec.get("pretrained") or "")}
    weights = Path(stamp["pretrained"])
    if stamp["pretrained"] and weights.is_file():
        st = weights.stat()
        stamp.update(size=st.st_size, mtime_ns=st.st_mtime_ns)
    return stamp


def _resume(partial: Path, model_spec: Mapping, log) -> dict:
    """Lines already computed for this very model; otherwise start a fresh partial file."""
    stamp = {"model": _model_stamp(model_spec)}
    if partial.exists():
        rows = []
        for line in partial.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short when the job was killed
                break
        if rows and rows[0] == stamp:
            log(f"{partial}: resuming after {len(rows) - 1} finished tasks")
            # rewritten without the cut line, so the next appended task starts on a line of its own
            partial.write_text("".join(json.dumps(r) + "\n" for r in rows))
            return {r["key"]: r for r in rows[1:]}
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text(json.dumps(stamp) + "\n")
    return {}
