"""Train the tiny world's digit detector (rules/models.smk, trainer clipcurate.train.trainers.digit_detector):
an MLP head on a reference set's image embeddings, labels from the world's ground truth."""

from pathlib import Path

import numpy as np

from clipcurate.scores.helpers import digit_detect as D
from clipcurate.train import digit_labels as L
from clipcurate.embed.encode import read_embeddings
from clipcurate.core.fileio import write_json
from clipcurate.core.runlog import start

log = start(snakemake)
cfg = snakemake.params.cfg
emb = read_embeddings(snakemake.input.embeddings, columns=("image",))
labels = L.world_digit_labels(snakemake.input.world, cfg["set"])
rows = L.embedding_rows(emb["key"].to_pylist())
y = labels[rows]
det = D.train_detector(emb["image"], y, hidden=int(cfg.get("hidden", 256)), alpha=float(cfg.get("alpha", 1e-4)),
                       c=float(cfg.get("C", 1.0)), holdout=float(cfg.get("holdout", 0.2)), seed=int(snakemake.params.seed),
                       balanced=bool(cfg.get("balanced", False)), max_iter=int(cfg.get("max_iter", 500)))
info = {"config": dict(cfg), "seed": snakemake.params.seed, "samples": len(y), "digits": int(y.sum()),
        **{k: v for k, v in det.items() if k != "layers"}}
D.save_detector(snakemake.output.detector, det, info)
write_json(info, Path(snakemake.output.info))
log.info("digit detector: %s", info)
