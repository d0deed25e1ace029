"""From a recipe's score (or mix) to a subset: uid + count, and DataComp's ``.npy``.

``all`` keeps the whole pool once (DataComp's no-filter baseline); ``keep`` takes a rule filter's
boolean column; every other sampler (threshold, SCS, HCS, no-cap) lives in
:mod:`clipcurate.sampling` and receives the score column as logits.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from clipcurate import io, sampling


def select(sample_cfg: Mapping, columns: Mapping[str, np.ndarray] | None, n_pool: int, n_target: int, seed: int) -> np.ndarray:
    """Counts per pool row for the recipe's sampler."""
    cfg = dict(sample_cfg)
    method = cfg.pop("method")
    if method == "all":
        return np.ones(n_pool, dtype=np.int64)
    if columns is None:
        raise sampling.SamplingError(f"sample method {method!r} needs a score; the recipe names none")
    if method == "keep":
        if "keep" not in columns:
            raise sampling.SamplingError(f"sample method 'keep' needs a boolean 'keep' column; found {sorted(columns)}")
        return columns["keep"].astype(np.int64)
    n = int(cfg.pop("n", None) or n_target)
    return np.asarray(sampling.sample(method, columns["score"], n, cfg, seed), dtype=np.int64)


def write_recipe_subset(recipe: str, sample_cfg: Mapping, index_path, score_path, out_parquet, out_npy, n_target: int, seed: int) -> dict:
    uids = io.read_index(index_path, columns=["uid"]).column("uid")
    columns = io.read_scores(score_path, index_path) if score_path else None
    counts = select(sample_cfg, columns, len(uids), n_target, seed)
    meta = {"recipe": recipe, "sample": dict(sample_cfg), "seed": seed, "n_target": n_target}
    io.write_subset(out_parquet, out_npy, uids, counts, metadata={k: str(v) for k, v in meta.items()})
    return {"unique": int((counts > 0).sum()), "total": int(counts.sum()), "max_count": int(counts.max(initial=0))}
