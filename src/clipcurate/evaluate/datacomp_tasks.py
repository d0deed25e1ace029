"""DataComp's task-specific evaluators: the WILDS, fairness and WinoGAViL metrics.

clip_benchmark computes accuracy, mean per-class recall and retrieval recalls. Seven of DataComp's
40 tasks need more (``evaluator: datacomp`` in ``config/tasks/datacomp38.yaml``); their main metrics
are computed here, the way DataComp's ``eval_utils`` computes them:

* Classification outputs come from clip_benchmark's own zero-shot classifier and dataset builder;
  each sample's metadata is the ``npy`` array stored beside its ``cls`` in the same webdataset
  shards, read in the same order (the labels must match, which is checked).
* iWildCam: macro F1 and macro recall over the classes present in the labels (WILDS' ``F1`` and
  ``Recall``), main metric ``F1-macro_all``.
* Camelyon17: accuracy by slide (metadata column 1); main metric plain ``acc1``.
* FMoW: accuracy by year (column 1, worst = ``acc_worst_year``) and by region (column 0, worst =
  ``acc_worst_region``). DataComp's code means to skip the "Other" region, but it matches the name
  against group strings that, without a metadata map, are numeric; so every non-empty region
  counts, as here.
* Dollar Street: top-5 accuracy by income group (column 0), main metric ``acc_top5_wg``.
* GeoDE: accuracy by region (column 0), main metric ``acc_wg``.
* WinoGAViL: per instance, the k candidates most similar to the prompt "A/An {cue}" are picked
  (k = the number of gold associations) and scored by the Jaccard index; ``jaccard_score_10-12``
  averages instances with 10 or more candidates.
* FairFace and UTKFace have no main metric (not scored); their bias tables are not computed and
  their lines carry ``main_metric: null`` with a note.

Group metrics follow WILDS' ``standard_group_eval``: ``{metric}_avg`` over all samples,
``{metric}_{field}:{g}`` and ``count_{field}:{g}`` per group present (e.g. ``acc_region:3``), and
the minimum over the groups present (``{metric}_wg``, or FMoW's ``acc_worst_year`` and
``acc_worst_region``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

# groupings per task: (field, metadata column in DataComp's _metadata_fields order, worst-group key suffix)
_GROUPINGS = {
    "wilds/camelyon17": [("slide", 1, "_wg")],                       # hospital, slide, y
    "wilds/fmow": [("year", 1, "_worst_year"), ("region", 0, "_worst_region")],  # region, year, y
    "fairness/dollar_street": [("income_ds", 0, "_wg")],             # income_ds, income_meta, region
    "fairness/geode": [("region", 0, "_wg")],                        # region, country
}
CLASSIFICATION_TASKS = ("wilds/iwildcam", "wilds/camelyon17", "wilds/fmow", "fairness/dollar_street", "fairness/geode")
UNSCORED_TASKS = ("fairness/fairface", "fairness/utkface")
WINOGAVIL = "misc/winogavil"
SPECIAL_TASKS = (*CLASSIFICATION_TASKS, *UNSCORED_TASKS, WINOGAVIL)


def group_eval(correct: np.ndarray, groups: np.ndarray, name: str, field: str = "group", worst: str = "_wg") -> dict:
    """WILDS' standard_group_eval for an element-wise metric (``correct`` is 0/1 per sample)."""
    correct = np.asarray(correct, dtype=np.float64)
    groups = np.asarray(groups)
    out = {f"{name}_avg": float(correct.mean())}
    per_group = []
    for g in np.unique(groups):
        mask = groups == g
        value = float(correct[mask].mean())
        out[f"{name}_{field}:{int(g)}"] = value
        out[f"count_{field}:{int(g)}"] = int(mask.sum())
        per_group.append(value)
    out[f"{name}{worst}"] = min(per_group)
    return out


def macro_over_present_labels(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """WILDS' F1 and Recall with ``average="macro"``: sklearn over the labels present in y_true."""
    from sklearn.metrics import f1_score, recall_score

    labels = np.unique(y_true)
    return {
        "recall-macro_all": float(recall_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
        "F1-macro_all": float(f1_score(y_true, y_pred, average="macro", labels=labels, zero_division=0)),
    }


def classification_group_metrics(key: str, logits: np.ndarray, target: np.ndarray, metadata: np.ndarray) -> dict:
    """DataComp's extra metrics for a WILDS or fairness classification task."""
    logits, target = np.asarray(logits), np.asarray(target)
    metadata = np.asarray(metadata).reshape(len(target), -1)
    top1 = logits.argmax(axis=1)
    if key == "wilds/iwildcam":
        return {"acc_avg": float((top1 == target).mean()), **macro_over_present_labels(target, top1)}
    if key == "fairness/dollar_street":
        top5 = np.argsort(-logits, axis=1, kind="stable")[:, :5]
        correct, name = (top5 == target[:, None]).any(axis=1), "acc_top5"
    else:
        correct, name = top1 == target, "acc"
    out = {}
    for field, column, worst in _GROUPINGS[key]:
        out.update(group_eval(correct, metadata[:, column], name, field=field, worst=worst))
    return out


def winogavil_scores(instances: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Jaccard metrics from (similarity per candidate, gold mask per candidate) pairs."""
    scores, sizes = [], []
    for sims, gold in instances:
        sims, gold = np.asarray(sims, dtype=np.float64), np.asarray(gold, dtype=bool)
        k = int(gold.sum())
        picked = np.zeros(len(sims), dtype=bool)
        if k:
            picked[np.argsort(sims, kind="stable")[-k:]] = True
        union = (picked | gold).sum()
        scores.append(float((picked & gold).sum() / union) if union else 0.0)
        sizes.append(len(sims))
    scores, sizes = np.asarray(scores), np.asarray(sizes)

    def mean(mask):
        return float(scores[mask].mean()) if mask.any() else float("nan")

    def se(mask):  # standard error of that mean: sample std / sqrt(instances) (clipcurate.report.uncertainty)
        m = int(mask.sum())
        return float(scores[mask].std(ddof=1) / np.sqrt(m)) if m > 1 else float("nan")

    masks = {
        "avg_jaccard_score": np.ones_like(sizes, dtype=bool),
        "jaccard_score_5": sizes == 5,
        "jaccard_score_6": sizes == 6,
        "jaccard_score_10": sizes == 10,
        "jaccard_score_12": sizes == 12,
        "jaccard_score_5-6": sizes <= 6,
        "jaccard_score_10-12": sizes >= 10,
    }
    out = {name: mean(mask) for name, mask in masks.items()}
    out.update({f"{name}_se": se(mask) for name, mask in masks.items()})
    return out


def clip_prompt(cue: str) -> str:
    """WinoGAViL's prompt: "An {cue}" before a vowel, "A {cue}" otherwise (lower-cased)."""
    cue = cue.lower()
    return f"An {cue}" if cue[:1] in "aeiou" else f"A {cue}"


# --------------------------------------------------------------------------------------------
# running a task


def _load_model(model_spec: Mapping, device: str):
    from clip_benchmark.models import load_clip

    from clipcurate.embed import models

    models.register_tiny_configs()
    return load_clip("open_clip", model_spec["arch"], str(model_spec.get("pretrained") or ""), None, device)


def classification_outputs(model_spec: Mapping, dataset: str, root: str, batch_size: int, device: str, amp: bool):
    """Logits, labels and per-sample ``npy`` metadata of a webdataset task, via clip_benchmark."""
    import torch
    import webdataset as wds
    from clip_benchmark.datasets.builder import build_dataset
    from clip_benchmark.metrics import zeroshot_classification as zsc
    from sklearn.metrics import balanced_accuracy_score

    model, transform, tokenizer = _load_model(model_spec, device)
    ds = build_dataset(dataset_name=dataset, root=root, transform=transform, split="test", download=False)
    loader = torch.utils.data.DataLoader(ds.batched(batch_size), batch_size=None, shuffle=False, num_workers=0)
    classifier = zsc.zero_shot_classifier(model, tokenizer, ds.classes, ds.templates, device, amp=amp)
    logits, target = zsc.run_classification(model, classifier, loader, device, amp=amp)
    nshards = int((Path(root) / "test" / "nshards.txt").read_text())
    urls = [str(Path(root) / "test" / f"{i}.tar") for i in range(nshards)]
    labels, metadata = [], []
    for cls, meta in wds.WebDataset(urls, shardshuffle=False).decode().to_tuple("cls", "npy"):
        labels.append(int(cls))
        metadata.append(np.asarray(meta).reshape(-1))
    if labels != target.tolist():
        raise ValueError(f"{root}: the 'cls' labels read with the metadata do not match clip_benchmark's order")
    # the metrics clip_benchmark's zero-shot evaluate reports, from the same logits
    if len(ds.classes) >= 5:
        acc1, acc5 = zsc.accuracy(logits, target, topk=(1, 5))
    else:
        (acc1,), acc5 = zsc.accuracy(logits, target, topk=(1,)), float("nan")
    out = {"acc1": acc1, "acc5": acc5,
           "mean_per_class_recall": float(balanced_accuracy_score(target, logits.argmax(axis=1)))}
    return out, logits.numpy(), target.numpy(), np.stack(metadata)


def evaluate_winogavil(model_spec: Mapping, root: str, device: str) -> dict:
    """WinoGAViL from the Hugging Face dataset ``nlphuji/winogavil`` cached under ``root/hf_cache``."""
    import torch

    try:
        import datasets
    except ImportError as e:
        raise RuntimeError(
            "misc/winogavil needs the `datasets` package and nlphuji/winogavil downloaded into "
            f"{os.path.join(root, 'hf_cache')} (DataComp's download_evalsets.py does both)"
        ) from e
    model, transform, tokenizer = _load_model(model_spec, device)
    data = datasets.load_dataset("nlphuji/winogavil", split="test", cache_dir=os.path.join(root, "hf_cache"))
    instances = []
    with torch.no_grad():
        for ex in data:
            images = torch.stack([transform(img) for img in ex["candidate_images"]]).to(device)
            text = tokenizer([clip_prompt(ex["cue"])]).to(device)
            img = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
            txt = torch.nn.functional.normalize(model.encode_text(text), dim=-1)
            sims = (txt @ img.T).squeeze(0).float().cpu().numpy()
            instances.append((sims, np.isin(ex["candidates"], ex["associations"])))
    return winogavil_scores(instances)


def evaluate_special_task(model_spec: Mapping, task: Mapping, root: str, batch_size: int) -> dict:
    """The metrics dict of one ``evaluator: datacomp`` task (before main_metric is picked)."""
    import torch

    key = task["key"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if key in UNSCORED_TASKS:
        return {"note": "not scored by DataComp; its bias tables are not computed here"}
    if key == WINOGAVIL:
        return evaluate_winogavil(model_spec, root, device)
    if key not in CLASSIFICATION_TASKS:
        raise ValueError(f"task {key}: no DataComp evaluator; known: {', '.join(SPECIAL_TASKS)}")
    dataset = task.get("dataset", f"wds/{key}")
    # amp as clip_benchmark's eval command has it by default (run_clip_benchmark passes no --no_amp)
    metrics, logits, target, metadata = classification_outputs(model_spec, dataset, root, batch_size, device, amp=True)
    metrics.update(classification_group_metrics(key, logits, target, metadata))
    return metrics
