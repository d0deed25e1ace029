"""Recipes restricted to a sub-pool, with their own training budget (FLYT Table 4: DataComp small).

A recipe may restrict its candidates to a sub-pool (``within: <score>:keep``, e.g. the ``subpool``
score standing in for DataComp small): its sampler then sees only the rows that keep column keeps, in
pool order, as if they were the whole pool (a threshold ``fraction`` is of those rows, SCS draws only
among them), and every other row gets count 0. Its training budget may differ from the scale's
(``train: {samples_seen, warmup}``, :func:`recipe_scale`); ``samples_seen`` is then also the default
``n`` of its sampler (:func:`recipe_n_target`), as ``scale.samples_seen`` is otherwise.

Such recipes are sampled by their own rule (``sample_within``, this module's :func:`write_within_subset`),
so that the plain sample jobs' code (:mod:`clipcurate.sample.subset`) is untouched by it; everything
else (the samplers, the stats JSON, the histogram, the file formats) is :mod:`clipcurate.sample.subset`'s.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from clipcurate.core import fileio, poolindex, scorefiles
from clipcurate.sample import subset
from clipcurate.sample.validate import SamplingError

#: the keys of a recipe's ``train`` section: overrides of the scale's training settings for its subset
RECIPE_TRAIN_KEYS = ("samples_seen", "warmup")


def recipe_scale(recipe: Mapping, scale: Mapping) -> dict:
    """The scale settings a recipe's subset trains with: ``scale`` with the recipe's ``train`` section
    (``samples_seen``, ``warmup``) applied. FLYT Table 4 trains on DataComp small with its smaller budget
    (12.8M samples seen against medium's 128M); on the tiny world its recipes say so here."""
    train = dict(recipe.get("train") or {})
    unknown = sorted(set(train) - set(RECIPE_TRAIN_KEYS))
    if unknown:
        raise SamplingError(f"a recipe's train section: unknown key(s) {unknown}; expected {list(RECIPE_TRAIN_KEYS)}")
    return {**scale, **train}


def recipe_n_target(recipe: Mapping, scale: Mapping) -> int:
    """The default N of a recipe's sampler: the samples its subset trains on (:func:`recipe_scale`)."""
    return int(recipe_scale(recipe, scale)["samples_seen"])


def check_within(within: np.ndarray, n_pool: int, where: str) -> np.ndarray:
    """A ``within`` column as a boolean mask of the pool (or a :class:`SamplingError` naming ``where``)."""
    within = np.asarray(within)
    if within.dtype != np.bool_:
        raise SamplingError(f"{where}: 'within' needs a boolean keep column; it has dtype {within.dtype}")
    if len(within) != n_pool:
        raise SamplingError(f"{where}: 'within' has {len(within)} rows, the pool {n_pool}")
    return within


def select_within(
    sample_cfg: Mapping,
    columns: Mapping[str, np.ndarray] | None,
    within: np.ndarray,
    n_target: int,
    seed: int,
    recipe: str | None = None,
) -> np.ndarray:
    """Counts per pool row (int64) of :func:`clipcurate.sample.subset.select` run on the rows ``within``
    (a boolean mask of the pool) keeps, in pool order; 0 for the other rows."""
    mask = check_within(within, len(within), f"recipes.{recipe}.sample" if recipe else "sample")
    idx = np.flatnonzero(mask)
    sub = None if columns is None else {k: np.asarray(v)[idx] for k, v in columns.items()}
    counts = np.zeros(len(mask), dtype=np.int64)
    counts[idx] = subset.select(sample_cfg, sub, len(idx), n_target, seed, recipe=recipe)
    return counts


def write_within_subset(
    recipe: str,
    sample_cfg: Mapping,
    index_path,
    score_path,
    within_path,
    within_ref: str,
    out_parquet,
    out_npy,
    n_target: int,
    seed: int,
    *,
    out_stats=None,
    out_hist=None,
) -> dict:
    """:func:`clipcurate.sample.subset.write_recipe_subset` for a recipe ``within`` a sub-pool:
    ``within_path`` is the score file of ``within_ref`` (``<score>:keep``). The stats JSON adds
    ``n_within`` (the sub-pool's size) and ``within``. Everything is computed before anything is
    written; each file is written atomically. Returns the stats."""
    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid")
    columns = scorefiles.read_scores(score_path, index_path) if score_path else None
    column = within_ref.partition(":")[2] or "keep"
    within = scorefiles.read_scores(within_path, index_path, columns=[column])[column]
    where = f"recipes.{recipe}.sample"
    if len(within) != len(uids):
        raise SamplingError(f"{where}: 'within' has {len(within)} rows, the pool {len(uids)}")
    counts = select_within(sample_cfg, columns, within, n_target, seed, recipe=recipe)
    stats = {**subset.subset_stats(recipe, counts, sample_cfg, n_target, seed),
             "within": within_ref, "n_within": int(np.count_nonzero(within))}
    meta = {"recipe": recipe, "sample": dict(sample_cfg), "seed": seed, "n_target": n_target, "within": within_ref}
    scorefiles.write_subset(out_parquet, out_npy, uids, counts, metadata={k: str(v) for k, v in meta.items()})
    if out_stats is not None:
        fileio.write_json(stats, out_stats)
    if out_hist is not None:
        from clipcurate.sample.histogram import repetition_histogram  # matplotlib: only when drawing

        params = " ".join(f"{k}={v}" for k, v in stats["sampler"].items() if k != "method")
        repetition_histogram(counts, out_hist, title=f"{recipe}: {stats['sampler']['method']} {params} within {within_ref}")
    return stats
