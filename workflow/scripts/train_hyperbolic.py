"""Train the hyperbolic CLIP of one ``hyperbolic:`` entry (rules/models.smk) on a reference set's
matched pairs of frozen embeddings (:func:`clipcurate.embed.hyperbolic.train_entry`)."""

from pathlib import Path

from clipcurate.embed import hyperbolic
from clipcurate.embed.encode import read_embeddings
from clipcurate.core.fileio import write_json
from clipcurate.core.runlog import start

log = start(snakemake)
cfg = snakemake.params.cfg
pairs = read_embeddings(snakemake.input.pairs)
log.info("pairs: %d of %s by %s, dim %d", len(pairs["image"]), cfg["dataset"], cfg["model"], pairs["image"].shape[1])
model, info = hyperbolic.train_entry(pairs["image"], pairs["text"], cfg, snakemake.params.seed)
hyperbolic.save_hyperbolic(snakemake.output.model, model, {k: v for k, v in info.items() if k != "history"})
write_json(info, Path(snakemake.output.info))
log.info("trained in %.1f s: curvature %.3f, final %s, held-out matched-pair AUC %s",
         info["train_seconds"], info["curvature"], info["final"], info.get("heldout_auc"))
