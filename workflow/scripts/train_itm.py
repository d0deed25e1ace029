"""Train the tiny world's ITM head (rules/models.smk, trainer itm): matched pairs of a reference set
against in-batch hard negatives, over a frozen CLIP's embeddings; a seeded share held out for its AUC."""

from pathlib import Path

from clipcurate.scores.helpers import itm
from clipcurate.embed.encode import read_embeddings
from clipcurate.core.fileio import write_json
from clipcurate.core.runlog import start

log = start(snakemake)
cfg = snakemake.params.cfg
seed = int(snakemake.params.seed)
pairs = read_embeddings(snakemake.input.pairs)
train_rows, held_rows = itm.split_heldout(len(pairs["image"]), float(cfg.get("heldout", 0.1)), seed)
log.info("ITM head on %s (%s): %d training pairs, %d held out", cfg["dataset"], cfg["model"], len(train_rows), len(held_rows))
trained = itm.train_itm_head(
    pairs["image"][train_rows], pairs["text"][train_rows], hidden=int(cfg["hidden"]), steps=int(cfg["steps"]),
    batch_size=int(cfg["batch_size"]), lr=float(cfg["lr"]), warmup=int(cfg["warmup"]), wd=float(cfg.get("wd", 0.0)),
    same_threshold=float(cfg.get("same_threshold", 0.99)), temperature=float(cfg.get("temperature", 0.07)), seed=seed, log=log,
)
info = {"config": dict(cfg), "seed": seed, "train_pairs": len(train_rows), "final_loss": trained["final_loss"],
        "train_accuracy": trained["train_accuracy"]}
if len(held_rows) > 1:
    head = itm.build_head(trained["dim"], trained["hidden"])
    head.load_state_dict(trained["state"])
    info["heldout"] = itm.heldout_auc(head.eval(), pairs["image"][held_rows], pairs["text"][held_rows], seed=seed)
itm.save_head(snakemake.output.head, trained, info)
write_json(info, Path(snakemake.output.info))
log.info("trained: %s", info)
