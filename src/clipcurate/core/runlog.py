"""Start-up for rule scripts: route logging, stdout and stderr to the rule's log, obey threads."""

from __future__ import annotations

import logging
import os
import sys


def start(smk) -> logging.Logger:
    """Call first in every workflow script with the ``snakemake`` object."""
    threads = max(1, int(getattr(smk, "threads", 1)))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    if smk.log:
        os.makedirs(os.path.dirname(str(smk.log[0])) or ".", exist_ok=True)
        handle = open(str(smk.log[0]), "a", buffering=1)
        sys.stdout = sys.stderr = handle
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
    )
    # torch reads OMP_NUM_THREADS when it is first imported; only a torch the script imported
    # before this call needs telling. Importing it here would cost every job 2 s of CPU, also the
    # many that never use it.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    return logging.getLogger(f"rule.{smk.rule}")
