"""Per-step time of DFN training (open_clip_train on the world's HQ set) on this machine.

    python benchmarks/bench_dfn_train.py --world DIR [--model dfn_scratch] [--steps 20] [--repeats 3]
                                         [--configfile EXTRA.yaml ...]

``--world`` is a generated tiny world (``resources/world`` of a workdir). The model's ``train``
section comes from config/config.yaml (and any ``--configfile``); ``samples_seen`` is replaced by
``steps * batch_size`` so that a run is short. Each repeat is a fresh open_clip_train run; the script
prints every run's wall time and per-step time (start-up included and excluded, from the training
log's per-step batch times), the median over repeats, and the peak RSS of the training processes.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import tempfile
from pathlib import Path

import yaml

from clipcurate.train.dfn import reference_train_data
from clipcurate.train.run import brace_pattern, run_training

REPO = Path(__file__).resolve().parents[1]


def merged_config(extra: list[Path]) -> dict:
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg.update(yaml.safe_load((REPO / "config/scales/tiny.yaml").read_text()))
    for path in extra:
        over = yaml.safe_load(Path(path).read_text()) or {}
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                for k, v in value.items():
                    cfg[key][k] = {**cfg[key][k], **v} if isinstance(v, dict) and isinstance(cfg[key].get(k), dict) else v
            else:
                cfg[key] = value
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", required=True, type=Path)
    ap.add_argument("--model", default="dfn_scratch")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configfile", nargs="*", default=[], type=Path)
    args = ap.parse_args()
    cfg = merged_config(args.configfile)
    model = cfg["models"][args.model]
    if model.get("pretrained"):
        raise SystemExit(f"{args.model} starts from {model['pretrained']}; benchmark a model trained from scratch")
    train = dict(model["train"])
    scale = {**cfg["scale"], **{k: v for k, v in train.items() if k not in ("dataset", "replace_with_pool", "seed")}}
    scale["samples_seen"] = args.steps * int(scale["batch_size"])
    walls, steps_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        shards, n, _ = reference_train_data(args.world, train["dataset"], Path(tmp) / "data")
        for r in range(args.repeats):
            out = Path(tmp) / f"run{r}"
            log = Path(tmp) / f"run{r}.log"
            info = run_training(brace_pattern(shards), n, {"arch": model["arch"], "pretrained": None}, scale,
                                out_dir=out, seed=r, threads=args.threads, log_file=log)
            batch_times = [float(x) for x in re.findall(r"Batch \(t\): ([0-9.]+)", log.read_text())]
            walls.append(info["wall_seconds"] / args.steps)
            if batch_times:
                steps_t.append(statistics.median(batch_times))
            print(f"run {r}: {info['wall_seconds']:.1f} s for {args.steps} steps of {scale['batch_size']} "
                  f"({walls[-1]:.3f} s/step with start-up; logged batch time {steps_t[-1] if steps_t else float('nan'):.3f} s)")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{args.model} on {train['dataset']} ({n} samples), batch {scale['batch_size']}, {args.threads} thread(s):")
    print(f"  median s/step incl. start-up: {statistics.median(walls):.3f}")
    if steps_t:
        print(f"  median logged s/step:         {statistics.median(steps_t):.3f}")
    print(f"  peak RSS of training processes: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
