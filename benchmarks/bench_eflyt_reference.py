"""Why E-FLYT-Base is no filter on the tiny world, measured per world seed.

E-FLYT-Base (FLYT Table 7) learns its head through the downstream CE of a reference model with a
learned temperature that starts at 1/0.07. That presumes a reference that knows the downstream task:
OpenAI's B/32 scores about 63 % zero-shot on ImageNet's 1,000 classes. The tiny world's OpenAI
analogue knows its 10 downstream classes barely, and this script prints, for each claims run
(``<workdir>/seed<s>``, made by ``snakemake results/reports/claims.csv``):

* the reference model's zero-shot accuracy on the downstream set (class texts: the mean over the
  set's templates of each template's embedding) and its CE at ``tau = 1`` (plain CE) and at
  ``tau = 1/0.07`` (CE + temperature at its start), the CE averaged over the templates one at a time
  as a FLYT step draws them, against chance ``ln C``;
* each E-FLYT run's downstream signal from its ``train_info.json`` (clipcurate.train.flyt.signal):
  the first and last fifth of the steps, over-confident (CE + temperature) or above chance (CE);
* each E-FLYT score's ROC AUC of clean pairs against all bad kinds and against the three kinds the
  head gets most wrong, from the run's filter-quality report (the world's ground truth).

Nothing is trained and no evaluation task is read.

    python benchmarks/bench_eflyt_reference.py --workdir results/claims --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from clipcurate.embed import models
from clipcurate.train.flyt.data import downstream_batches, downstream_set
from clipcurate.train.flyt.downstream import INIT_DOWNSTREAM_LOG_TAU, downstream_loss, fill_template
from clipcurate.train.flyt.signal import downstream_signal

REPO = Path(__file__).resolve().parents[1]
#: E-FLYT scores compared: E-FLYT-Base's head, and the one M-FLYT mixes on the tiny world
SCORES = ("eflyt_base", "eflyt")
KINDS = ("misaligned", "uninformative", "scene_text")


@torch.no_grad()
def zero_shot(model_path: Path, arch: str, downstream_dir: Path, images: int) -> dict:
    """Zero-shot accuracy and template-averaged CE at tau = 1 and 1/0.07 on ``images`` downstream images."""
    model, preprocess, tokenizer = models.load_model({"arch": arch, "pretrained": str(model_path)})
    model.eval()
    down = downstream_set(downstream_dir)
    classes, templates = down["classnames"], down["templates"]
    text = torch.stack([F.normalize(model.encode_text(tokenizer([fill_template(t, c) for c in classes])), dim=-1)
                        for t in templates])  # (templates, C, d)
    feats, labels = [], []
    for batch in downstream_batches(down["shards"], preprocess, 250, seed=0, shuffle_buffer=1):
        feats.append(F.normalize(model.encode_image(batch["images"]), dim=-1))
        labels.append(batch["labels"])
        if sum(len(x) for x in labels) >= images:
            break
    img, y = torch.cat(feats)[:images], torch.cat(labels)[:images]
    ensemble = img @ F.normalize(text.mean(0), dim=-1).T
    init_log_tau = torch.tensor(INIT_DOWNSTREAM_LOG_TAU)

    def mean_over_templates(kind: str) -> float:  # the FLYT training loss itself, one template at a time
        return float(torch.stack([downstream_loss(kind, img, t, y, init_log_tau) for t in text]).mean())

    return {"n": len(y), "classes": len(classes), "accuracy": float((ensemble.argmax(1) == y).float().mean()),
            "ce_tau1": mean_over_templates("ce"), "ce_tau_init": mean_over_templates("ce_temperature"),
            "chance": math.log(len(classes))}


def score_runs() -> dict[str, str]:
    """Each compared score's E-FLYT run, from config/config.yaml (scores.<name>.flyt)."""
    scores = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["scores"]
    return {name: scores[name]["flyt"] for name in SCORES}


def quality_rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {r["entry"]: r for r in csv.DictReader(f)}


def signal_line(info_path: Path) -> str:
    if not info_path.is_file():
        return f"{info_path}: missing"
    info = json.loads(info_path.read_text())
    loss = info["train"].get("downstream_loss", "ce")
    # judged afresh from the history, so that files written under an earlier rule read the same
    sig = downstream_signal([h["downstream_loss"] for h in info["history"]], info["downstream"]["classes"], loss)
    if sig.get("start") is None:
        return f"{loss}: too few steps to judge"
    if sig["over_confident"] is not None:
        verdict = "OVER-CONFIDENT at the start" if sig["over_confident"] else "not over-confident"
    elif sig["above_chance"] is not None:
        verdict = "below chance at the start" if sig["above_chance"] else "AT chance at the start"
    else:
        verdict = "not judged"
    return (f"{loss}, reference lr {info['train']['reference_lr']:g}: downstream loss {sig['start']:.3f} ± {sig['start_se']:.3f}"
            f" -> {sig['end']:.3f} ± {sig['end_se']:.3f} ({verdict})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=REPO / "results" / "claims")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--model", default="openai", help="the E-FLYT reference model (flyt.runs.eflyt.reference_model)")
    ap.add_argument("--arch", default="tiny-clip")
    ap.add_argument("--images", type=int, default=2000)
    args = ap.parse_args()
    runs = score_runs()
    for seed in args.seeds:
        d = args.workdir / f"seed{seed}"
        zs = zero_shot(d / "results" / "models" / args.model / "open_clip_pytorch_model.bin", args.arch,
                       d / "resources" / "world" / "reference" / "downstream", args.images)
        print(f"seed {seed}: reference {args.model}: zero-shot {zs['accuracy']:.3f} on {zs['n']} images of {zs['classes']} "
              f"classes; CE at tau 1 {zs['ce_tau1']:.3f}, at tau 1/0.07 {zs['ce_tau_init']:.3f}; chance ln C {zs['chance']:.3f}")
        quality = d / "results" / "reports" / "score_quality.csv"
        rows = quality_rows(quality) if quality.is_file() else {}
        for score in SCORES:
            run = runs[score]
            print(f"  {score} (run {run}): {signal_line(d / 'results' / 'flyt' / run / 'train_info.json')}")
            r = rows.get(score)
            if r is None:
                print(f"    {quality}: no row {score!r}")
                continue
            kinds = ", ".join(f"{k} {float(r[f'auc_{k}']):.2f}" for k in KINDS if r.get(f"auc_{k}"))
            print(f"    AUC clean vs all bad {float(r['auc_all_bad']):.3f} ± {float(r['auc_all_bad_se']):.3f}; {kinds}")


if __name__ == "__main__":
    main()
