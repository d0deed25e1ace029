"""Train the binary-classifier backbone (rules/models.smk): a reference set's samples against the pool's,
on the frozen embeddings of one model."""

from pathlib import Path

from clipcurate.scores.helpers import classifier
from clipcurate.embed.encode import read_embeddings
from clipcurate.core.fileio import write_json
from clipcurate.core.runlog import start

log = start(snakemake)
cfg = snakemake.params.cfg
features = cfg.get("features", "image_text")
pos = classifier.classifier_features(read_embeddings(snakemake.input.positive), features)
neg = classifier.pool_negatives(list(snakemake.input.embeddings), features, cfg.get("max_negatives"), snakemake.params.seed)
log.info("positives (%s): %d, negatives (pool): %d, features %s (%d)", cfg["positive"], len(pos), len(neg), features, pos.shape[1])
clf = classifier.train_binary_classifier(
    pos, neg, steps=int(cfg["steps"]), batch_size=int(cfg["batch_size"]), lr=float(cfg["lr"]),
    warmup=int(cfg["warmup"]), wd=float(cfg.get("wd", 0.0)), seed=snakemake.params.seed,
)
info = {"config": dict(cfg), "positives": len(pos), "negatives": len(neg), "features": features,
        "train_accuracy": clf["train_accuracy"], "final_loss": clf["final_loss"], "seed": snakemake.params.seed}
classifier.save_classifier(snakemake.output.classifier, clf, features, info)
write_json(info, Path(snakemake.output.info))
log.info("trained: %s", info)
