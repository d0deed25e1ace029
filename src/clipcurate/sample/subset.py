"""From a recipe's score (or mix) to a subset: uid + count, and DataComp's ``.npy``.

``all`` keeps the whole pool once (DataComp's no-filter baseline); ``keep`` takes a rule filter's
boolean column; ``counts`` takes the repeat counts a score method or a mix wrote as its ``count``
column (non-negative integers, e.g. quality-based duplication), unchanged; every other sampler
(threshold, SCS, HCS, no-cap) lives in :mod:`clipcurate.sample` and receives the score column as logits.

Besides the subset, a recipe gets a repetition report (FLYT Figure 2): ``{recipe}.stats.json`` (sizes,
the histogram of repetitions, the sampler config as given and as resolved, seed, N) and
``{recipe}.hist.png``. Errors in a recipe's ``sample`` section name the key
``recipes.<recipe>.sample.<param>``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from clipcurate.core import io
from clipcurate.sample.counts import check_counts, repetition_stats
from clipcurate.sample.dispatch import draw
from clipcurate.sample.scs import default_group_size
from clipcurate.sample.validate import METHODS, SamplingError, check_param, check_params

#: methods handled here rather than by :func:`clipcurate.sample.dispatch.draw`: they take no score
#: (``all``) or take a column as is (``keep``, ``counts``).
POOL_METHODS = ("all", "keep", "counts")
#: the column each of those reads from the recipe's score or mix (``all`` reads none).
SOURCE_COLUMNS = {"keep": "keep", "counts": "count"}


def _where(recipe: str | None) -> str:
    """The config key of a recipe's sampler section, for error messages."""
    return f"recipes.{recipe}.sample" if recipe else "sample"


def resolve_sample_cfg(sample_cfg: Mapping, n_target: int, recipe: str | None = None) -> dict:
    """A recipe's ``sample`` section, validated, with the defaults it implies filled in.

    ``n`` (the target size N) defaults to ``n_target`` (scale.samples_seen) for the samplers that draw
    N examples, and SCS's ``group_size`` to :func:`clipcurate.sample.scs.default_group_size`; the stats
    JSON records the result, so a sweep's figure can say which N and G were used. ``threshold`` takes
    its size from ``fraction``, and ``all``/``keep``/``counts`` take no parameter: an ``n`` there would be silently
    ignored, so it is an error. Raises :class:`~clipcurate.sample.validate.SamplingError` naming
    ``recipes.<recipe>.sample.<key>`` (``sample.<key>`` without a recipe) before anything is read or written.
    """
    where = _where(recipe)
    cfg = dict(sample_cfg)
    method = cfg.pop("method", None)
    known = [*POOL_METHODS, *sorted(METHODS)]
    if method not in known:
        raise SamplingError(f"{where}.method: expected one of {', '.join(known)}, got {method!r}")
    if method in POOL_METHODS:
        for key in sorted(cfg):
            raise SamplingError(f"{where}.{key}: method {method!r} takes no parameter; remove {key!r}")
        return {"method": method}
    n = cfg.pop("n", None)
    if method == "threshold" and n is not None:
        raise SamplingError(
            f"{where}.n: method 'threshold' keeps floor(fraction * pool size) examples; remove 'n' or set 'fraction'"
        )
    params = check_params(method, cfg, where)
    if method != "threshold":
        params["n"] = check_param("n", n_target if n is None else n, where)
    if method == "scs" and params.get("group_size") is None:
        params["group_size"] = default_group_size(params["n"])
    return {"method": method, **params}


def select(
    sample_cfg: Mapping,
    columns: Mapping[str, np.ndarray] | None,
    n_pool: int,
    n_target: int,
    seed: int,
    recipe: str | None = None,
) -> np.ndarray:
    """Counts per pool row for the recipe's sampler (int64, one per pool row).

    The config is checked first (:func:`resolve_sample_cfg`); ``recipe`` only names the recipe in errors.
    """
    cfg = resolve_sample_cfg(sample_cfg, n_target, recipe)
    method = cfg.pop("method")
    where = _where(recipe)
    if method == "all":
        return np.ones(n_pool, dtype=np.int64)
    if columns is None:
        raise SamplingError(f"{where}.method: {method!r} needs a score or a mix; the recipe names neither")
    if method == "keep":
        if "keep" not in columns:
            raise SamplingError(f"{where}.method: 'keep' needs a boolean 'keep' column; found {sorted(columns)}")
        keep = np.asarray(columns["keep"])
        if keep.dtype != np.bool_:  # 0.9 would truncate to 0 and 3 would repeat a sample 3 times
            raise SamplingError(f"{where}.method: 'keep' needs a boolean 'keep' column; it has dtype {keep.dtype}")
        return keep.astype(np.int64)
    if method == "counts":
        if "count" not in columns:
            raise SamplingError(
                f"{where}.method: 'counts' needs a 'count' column (repeat counts); found {sorted(columns)}"
            )
        counts = check_counts(columns["count"], f"{where}.method: 'counts': column 'count'")
        if len(counts) != n_pool:
            raise SamplingError(f"{where}.method: 'counts': column 'count' has {len(counts)} rows, the pool {n_pool}")
        return counts
    if "score" not in columns:
        raise SamplingError(f"{where}.method: {method!r} needs a 'score' column; found {sorted(columns)}")
    n = cfg.pop("n", None)
    return np.asarray(draw(method, columns["score"], n, cfg, seed, where=where), dtype=np.int64)


def subset_stats(recipe: str, counts: np.ndarray, sample_cfg: Mapping, n_target: int, seed: int) -> dict:
    """The stats JSON of a subset: repetition numbers (:func:`clipcurate.sample.counts.repetition_stats`)
    plus what produced them (the ``sample`` section as given and as resolved, seed, N, pool size)."""
    return {
        "recipe": recipe,
        "n_pool": int(len(counts)),
        **repetition_stats(np.asarray(counts, dtype=np.int64)),
        "sample": dict(sample_cfg),
        "sampler": resolve_sample_cfg(sample_cfg, n_target, recipe),
        "seed": int(seed),
        "n_target": int(n_target),
    }


def _title(recipe: str, resolved: Mapping) -> str:
    """Histogram title: the recipe and its resolved sampler, e.g. ``x: scs alpha=0.1 n=40960 group_size=32``."""
    params = " ".join(f"{k}={v}" for k, v in resolved.items() if k != "method")
    return f"{recipe}: {resolved['method']} {params}".rstrip()


def write_recipe_subset(
    recipe: str,
    sample_cfg: Mapping,
    index_path,
    score_path,
    out_parquet,
    out_npy,
    n_target: int,
    seed: int,
    *,
    out_stats=None,
    out_hist=None,
) -> dict:
    """Sample a recipe and write its subset (parquet + npy), and optionally its stats JSON and histogram PNG.

    The counts and stats are computed before anything is written, so a bad config or score file leaves
    the previous outputs as they were; each file is then written atomically (temporary name + rename).
    Returns the stats.
    """
    uids = io.read_index(index_path, columns=["uid"]).column("uid")
    columns = io.read_scores(score_path, index_path) if score_path else None
    counts = select(sample_cfg, columns, len(uids), n_target, seed, recipe=recipe)
    stats = subset_stats(recipe, counts, sample_cfg, n_target, seed)
    meta = {"recipe": recipe, "sample": dict(sample_cfg), "seed": seed, "n_target": n_target}
    io.write_subset(out_parquet, out_npy, uids, counts, metadata={k: str(v) for k, v in meta.items()})
    if out_stats is not None:
        io.write_json(stats, out_stats)
    if out_hist is not None:
        from clipcurate.sample.histogram import repetition_histogram  # matplotlib: only when drawing

        repetition_histogram(counts, out_hist, title=_title(recipe, stats["sampler"]))
    return stats
