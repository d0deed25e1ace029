"""Standard errors of zero-shot results: per task, per DataComp aggregate, and for a difference of rows.

A zero-shot score is measured on a finite test set, so it carries sampling error: a model whose true
accuracy is p scores on n independent test images an accuracy with standard error sqrt(p(1-p)/n). The
tiny world's tasks have a few hundred test images, so two table rows a few points apart may not be
told apart. Tables print each cell with this uncertainty (``0.268 ± 0.022``) and :mod:`clipcurate.report.claims`
decides a claim only when a difference exceeds it.

What the standard errors here measure: the test-set sampling error of a *given* model (each test
image an independent draw from the task's distribution). They do not include the variance between
training runs (seeds, data order): that is measured by repeating a run with other seeds.

Per task (:func:`task_se`), by the task's main metric:

* accuracy (``acc1``, ``acc5``, ``acc_avg``): binomial, sqrt(p(1-p)/n), n = test images.
* mean per-class recall (``MPCR``/``mean_per_class_recall``): the same binomial formula with n the
  test images. Exact for balanced classes (then MPCR is the accuracy); an approximation otherwise.
* retrieval ``mean_recall@1`` = (image-retrieval recall@1 + text-retrieval recall@1) / 2: each recall
  is a proportion over queries and gets its binomial SE with n = the test *images* (a caption query is
  one of several captions of an image; captions of one image are not independent draws, so counting
  them as the image count is conservative). The two directions use the same images and model, so they
  are correlated; the mean's SE is bounded by (se_i + se_t) / 2 whatever the correlation, and that
  bound is used.
* a worst-group accuracy (``acc_wg``, ``acc_worst_region``, ``acc_top5_wg``): binomial with n the
  sample count of the worst group (``count_{field}:{g}``, written by the DataComp evaluators).
* any metric for which the evaluator wrote ``{metric}_se`` itself (WinoGAViL's Jaccard means: the
  sample standard deviation of the per-instance scores over sqrt(instances)): that value.
* anything else (iWildCam's macro F1): no closed form; the SE is NaN and so are the aggregates that
  include it.

Aggregates (:func:`aggregate_se`): DataComp's aggregates are means of task main metrics; the test sets
of different tasks are disjoint, so, for a given model, their sampling errors are independent and the
SE of a mean of k tasks is sqrt(sum_i se_i^2) / k.

The per-task sample count is written by evaluation into each ``eval_results.jsonl`` line as
``num_samples`` (the test images, counted in the task's webdataset shards); files written before that
have no counts, and their cells get NaN standard errors (see :func:`missing_counts`).
"""

from __future__ import annotations

import math
import os
import tarfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
#: main metrics that are a proportion over the test images
PROPORTION_METRICS = ("acc1", "acc5", "acc_avg", "MPCR", "mean_per_class_recall")
#: worst-group main metrics: (metric name of the per-group values, grouping field or None for any)
WORST_GROUP_METRICS = {"acc_wg": ("acc", None), "acc_worst_region": ("acc", "region"),
                       "acc_worst_year": ("acc", "year"), "acc_top5_wg": ("acc_top5", None)}


def binomial_se(p: float, n: int | None) -> float:
    """sqrt(p(1-p)/n): the standard error of a proportion ``p`` measured on ``n`` independent trials.

    NaN when n is unknown or not positive, or p is not a number in [0, 1].
    """
    if n is None or p is None or isinstance(p, bool):
        return math.nan
    try:
        p, n = float(p), int(n)
    except (TypeError, ValueError):
        return math.nan
    if n <= 0 or not 0.0 <= p <= 1.0:
        return math.nan
    return math.sqrt(p * (1.0 - p) / n)


def mean_se(ses: Sequence[float]) -> float:
    """SE of the mean of k independent estimates with standard errors ``ses``: sqrt(sum se_i^2) / k.

    Independence holds for DataComp's aggregates: each task has its own test set. NaN if any se is
    NaN (an aggregate is only as known as its least known part) or the list is empty.
    """
    ses = [float(s) for s in ses]
    if not ses or any(math.isnan(s) for s in ses):
        return math.nan
    return math.sqrt(sum(s * s for s in ses)) / len(ses)


def diff_se(se_a: float, se_b: float) -> float:
    """SE of a difference a - b of two scores measured with standard errors se_a and se_b: sqrt(se_a^2 + se_b^2).

    Exact for independent test sets. Two rows of a table are evaluated on the same test images; their
    errors are then usually positively correlated, which makes the true SE of the difference smaller:
    this value is conservative there.
    """
    return math.sqrt(float(se_a) ** 2 + float(se_b) ** 2)


def _worst_group_n(metrics: Mapping, prefix: str, field: str | None, value: float) -> int | None:
    """Sample count of the group whose ``{prefix}_{field}:{g}`` equals the worst-group value (the
    smallest such count if several tie: the larger SE, conservative)."""
    counts = []
    for key, v in metrics.items():
        if not key.startswith(prefix + "_") or ":" not in key or not isinstance(v, (int, float)):
            continue
        group = key[len(prefix) + 1:]  # e.g. region:3
        if f"count_{group}" not in metrics or (field is not None and group.partition(":")[0] != field):
            continue
        if math.isclose(float(v), value, rel_tol=0, abs_tol=1e-12):
            counts.append(int(metrics[f"count_{group}"]))
    return min(counts) if counts else None


def task_se(task: Mapping, metrics: Mapping, num_samples: int | None) -> float:
    """Standard error of one task's main metric (the rules in the module docstring); NaN when unknown."""
    main = task.get("main_metric")
    if main is None:
        return math.nan
    value = metrics.get("main_metric")
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return math.nan
    own = metrics.get(f"{main}_se")
    if isinstance(own, (int, float)) and not isinstance(own, bool):
        return float(own)
    if main in PROPORTION_METRICS:
        return binomial_se(value, num_samples)
    if main == "mean_recall@1":
        ir, tr = metrics.get("image_retrieval_recall@1"), metrics.get("text_retrieval_recall@1")
        return 0.5 * (binomial_se(ir, num_samples) + binomial_se(tr, num_samples))
    if main in WORST_GROUP_METRICS:
        return binomial_se(value, _worst_group_n(metrics, *WORST_GROUP_METRICS[main], float(value)))
    return math.nan


def line_se(line: Mapping, task: Mapping) -> float:
    """:func:`task_se` of one ``eval_results.jsonl`` line (its ``num_samples`` and metrics)."""
    return task_se(task, line.get("metrics") or {}, line.get("num_samples"))


def aggregate_se(lines: Iterable[Mapping], suite: Mapping) -> dict:
    """Standard errors of DataComp's aggregates (the keys of :func:`clipcurate.evaluate.results.aggregate`),
    with :func:`mean_se` over each aggregate's tasks; ``lines`` must have passed ``aggregate``."""
    from clipcurate.evaluate.results import scored_tasks

    tasks = {t["key"]: t for t in scored_tasks(suite)}
    se = {l["key"]: line_se(l, tasks[l["key"]]) for l in lines
          if l["key"] in tasks and l["metrics"].get("main_metric") is not None}

    def group(g):
        return mean_se([se[k] for k, t in tasks.items() if t["group"] == g])

    return {
        "ImageNet": group("ImageNet"),
        "ImageNet dist. shifts": group("ImageNet dist. shifts"),
        "VTAB": group("VTAB"),
        "Retrieval": group("Retrieval"),
        "Average": mean_se(list(se.values())),
    }


def imagenet_se(eval_path, suite: Mapping) -> float:
    """SE of the ImageNet aggregate of one evaluation file (NaN for a file without test-set sizes)."""
    from clipcurate.evaluate.results import read_jsonl

    return aggregate_se(read_jsonl(eval_path), suite)["ImageNet"]


def per_task_se(lines: Iterable[Mapping], suite: Mapping) -> dict:
    """{task key: SE of its main metric} for the suite's scored tasks among ``lines``."""
    from clipcurate.evaluate.results import scored_tasks

    tasks = {t["key"]: t for t in scored_tasks(suite)}
    return {l["key"]: line_se(l, tasks[l["key"]]) for l in lines if l["key"] in tasks}


def missing_counts(lines: Iterable[Mapping], suite: Mapping) -> list[str]:
    """Keys of scored tasks whose line has no ``num_samples`` key: a file written before evaluations
    recorded it (a new line always has the key; null where the test set is not webdataset shards)."""
    from clipcurate.evaluate.results import scored_tasks

    scored = {t["key"] for t in scored_tasks(suite)}
    return [l["key"] for l in lines if l["key"] in scored and "num_samples" not in l]


def count_test_samples(root: str | os.PathLike, split: str = "test") -> int:
    """Samples (images) of a clip_benchmark webdataset task: ``{root}/{split}/{0..nshards-1}.tar``.

    Counted from the tar headers (tarfile seeks past the data), so a large test set costs little.
    A sample is a key (the member name up to its first dot) with an image member.
    """
    d = Path(root) / split
    nshards_file = d / "nshards.txt"
    if not nshards_file.exists():
        raise FileNotFoundError(f"{nshards_file}: not found; expected clip_benchmark's webdataset layout")
    nshards = int(nshards_file.read_text().strip())
    n = 0
    for i in range(nshards):
        keys = set()
        with tarfile.open(d / f"{i}.tar") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                stem, _, ext = m.name.partition(".")
                if ext.lower() in IMAGE_EXTENSIONS:
                    keys.add(stem)
        n += len(keys)
    return n
