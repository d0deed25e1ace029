"""DataComp-style CLIP training with open_clip_train (run through :mod:`clipcurate.train.entry`).

The recipe is fixed per scale (DataComp's ``scale_configs.py``): model, global batch, learning rate,
warmup, and **samples seen**, which stays the same whatever the subset size (small subsets repeat,
large ones are subsampled), because training uses ``--dataset-resampled`` and
``--train-num-samples = samples_seen / num_checkpoints`` with ``--epochs = num_checkpoints``.
Flags DataComp always passes are passed here too; the GPU-memory and multi-node ones
(``--grad-checkpointing``, ``--local-loss``, ``--gather-with-grad``, ``--ddp-static-graph``) are
controlled by the scale config since they only matter with GPUs and DDP.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

from clipcurate.embed import models


def open_clip_train_args(
    train_data: str,
    train_num_samples_total: int,
    model_arg: str,
    pretrained: str | None,
    scale: Mapping,
    logs: str,
    name: str,
    seed: int,
    device: str,
) -> list[str]:
    """The open_clip_train command line for one DataComp-style run."""
    n_ckpt = int(scale.get("num_checkpoints", 1))
    world = int(scale.get("gpus", 1)) if device == "cuda" else 1
    accum = int(scale.get("accum_freq", 1))
    per_device_batch = int(scale["batch_size"]) // (world * accum)
    args = [
        "--train-data", train_data,
        "--train-num-samples", str(train_num_samples_total // n_ckpt),
        "--dataset-type", "webdataset",
        "--dataset-resampled",
        "--epochs", str(n_ckpt),
        "--batch-size", str(per_device_batch),
        "--accum-freq", str(accum),
        "--lr", str(scale["lr"]),
        "--warmup", str(scale["warmup"]),
        "--wd", str(scale.get("wd", 0.2)),
        "--model", model_arg,
        "--precision", scale.get("precision", "amp") if device == "cuda" else "fp32",
        "--workers", str(scale.get("workers", 1)),
        "--seed", str(seed),
        "--logs", logs,
        "--name", name,
        "--save-frequency", "1",
        "--save-most-recent",
        "--resume", "latest",
        "--log-every-n-steps", str(scale.get("log_every_n_steps", 20)),
        "--device", device,
    ]
    if pretrained:
        args += ["--pretrained", pretrained]
    if scale.get("beta2"):
        args += ["--beta2", str(scale["beta2"])]
    if device == "cuda":
        if scale.get("grad_checkpointing", True):
            args.append("--grad-checkpointing")
        args += ["--local-loss", "--gather-with-grad", "--ddp-static-graph"]
    return args


def input_stamp(train_data: str, model_spec: Mapping) -> list:
    """(path, size, mtime_ns) of every training shard and of the init checkpoint.

    A recipe's shards always live at the same path, so the arguments alone do not tell a restart of
    the same run (the same files) from a rerun on a new subset (the resharder wrote new files there).
    ``train_data`` is open_clip_train's pattern (``dir/{00000000..00000002}.tar``, sources joined by
    ``::``): every ``.tar`` in each source's folder is stamped.
    """
    stamp = []
    for source in str(train_data).split("::"):
        folder = Path(source).parent
        if folder.is_dir():
            for f in sorted(folder.glob("*.tar")):
                st = f.stat()
                stamp.append([str(f), st.st_size, st.st_mtime_ns])
    init = model_spec.get("pretrained")
    if init and Path(str(init)).is_file():
        st = Path(str(init)).stat()
        stamp.append([str(init), st.st_size, st.st_mtime_ns])
    return stamp


def reset_stale_run(work: Path, args: Sequence[str], model_spec: Mapping, inputs: Sequence = ()) -> None:
    """Keep open_clip_train's checkpoints only for a restart of the very same run.

    Training passes ``--resume latest`` so that a preempted job continues where it stopped. A rerun
    with other hyperparameters, data or init would resume the old run instead, and a finished one
    would be exported unchanged; so the run's arguments and its input files' stamps
    (:func:`input_stamp`: the shards are rewritten at the same path when the subset changes) are
    recorded beside its logs, and any other run's logs and checkpoints are removed first.
    """
    record = work / "run_args.json"
    current = json.dumps({"args": list(args), "init": dict(model_spec), "inputs": [list(x) for x in inputs]},
                         sort_keys=True)
    if record.exists() and record.read_text() == current:
        return
    shutil.rmtree(work / "logs", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    record.write_text(current)


def run_training(
    train_data: str,
    dataset_size: int,
    model_spec: Mapping,
    scale: Mapping,
    out_dir: str | os.PathLike,
    seed: int,
    threads: int,
    log_file: str | os.PathLike | None = None,
) -> dict:
    """Train with open_clip_train and export the final weights to ``out_dir``.

    Writes ``out_dir/open_clip_pytorch_model.bin`` (+ ``open_clip_config.json`` for tiny archs)
    and ``out_dir/train_info.json`` (hyperparameters, samples seen, wall time); returns the info.
    """
    import torch

    out_dir = Path(out_dir)
    work = out_dir / "open_clip_train"
    arch = model_spec["arch"]
    pretrained = model_spec.get("pretrained")
    if models.is_tiny_arch(arch):
        model_arg = models.local_dir_for(arch, work / "model_def", init_checkpoint=pretrained)
        pretrained = None
    else:
        model_arg = arch
    device = "cuda" if torch.cuda.is_available() else "cpu"
    samples_seen = int(scale["samples_seen"])
    args = open_clip_train_args(
        train_data, samples_seen, model_arg, pretrained, scale,
        logs=str(work / "logs"), name="run", seed=seed, device=device,
    )
    reset_stale_run(work, args, model_spec, input_stamp(train_data, model_spec))
    gpus = int(scale.get("gpus", 1)) if device == "cuda" else 1
    if gpus > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", "-m", "clipcurate.train.entry", *args]
    else:
        cmd = [sys.executable, "-m", "clipcurate.train.entry", *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    t0 = time.time()
    log_handle = open(log_file, "a") if log_file else None
    try:
        if log_handle:
            log_handle.write("$ " + shlex.join(cmd) + "\n")
            log_handle.flush()
        proc = subprocess.run(cmd, env=env, stdout=log_handle, stderr=subprocess.STDOUT if log_handle else None)
    finally:
        if log_handle:
            log_handle.close()
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"open_clip_train failed with exit code {proc.returncode}; see {log_file}")
    ckpt_dir = work / "logs" / "run" / "checkpoints"
    final = ckpt_dir / f"epoch_{int(scale.get('num_checkpoints', 1))}.pt"
    if not final.exists():
        final = ckpt_dir / "epoch_latest.pt"
    weights = models.export_checkpoint(final, arch, out_dir)
    info = {
        "model": {"arch": arch, "pretrained": str(weights)},
        "init": dict(model_spec),
        "train_data": train_data,
        "dataset_size": dataset_size,
        "samples_seen": samples_seen,
        "steps": samples_seen // int(scale["batch_size"]),
        "hyperparameters": {k: scale[k] for k in sorted(scale) if k not in ("name",)},
        "seed": seed,
        "device": device,
        "threads": threads,
        "wall_seconds": round(wall, 1),
        "samples_per_second": round(samples_seen / wall, 1) if wall > 0 else None,
        "command": shlex.join(cmd),
    }
    from clipcurate.core.fileio import write_json

    write_json(info, out_dir / "train_info.json")
    return info


def brace_pattern(shards: Sequence[str | os.PathLike]) -> str:
    """open_clip's ``::``-joined list of shard paths (explicit, so gaps are impossible)."""
    return "::".join(str(s) for s in shards)
