"""Planning-time checks that join several config sections: errors a job would otherwise find.

Each check here needs information from more than one place of the config (or a path it names), so
that it is not a schema rule; each raises :class:`clipcurate.config.check.ConfigError` naming the
config key, and is run by :func:`clipcurate.config.check.prepare` (the Snakefile and
``python -m clipcurate.config.check``) after the other checks, before any job starts:

* :func:`check_evaluation_root`: ``evaluation.data_root`` is read only at real scale (the tiny world
  evaluates its own generated tasks, ``resources/world/eval``), so setting it with
  ``pool.source: world`` is refused rather than ignored; at real scale the directory must exist.
* :func:`check_sampler_sizes`: an SCS or HCS recipe whose target size ``n`` the pool cannot give
  (``scale.pool_size`` rows, or a ``subpool`` sub-pool's expected share of them for a recipe ``within`` it: a round of SCS draws ``min(group_size, n)`` distinct examples; SCS
  without replacement, ``alpha: .inf``, needs ``n <= pool size``; HCS needs ``beta * pool size >= n``). The same conditions as
  :func:`clipcurate.sample.scs.scs` / :func:`clipcurate.sample.hcs.hcs`, which still check the real pool
  (at real scale the downloaded pool is smaller than ``scale.pool_size``).
* :func:`check_score_columns`: every ``name:column`` reference (mix inputs, score inputs such as
  ``intersect_keeps``' ``name:keep``, FLYT run inputs) names a column that the score's method declares
  in its ``outputs``; a bare ``name`` reads ``score``. (The column a recipe's sampler reads, ``keep``,
  ``count`` or ``score``, is checked by :func:`clipcurate.config.check.check_score_refs`.)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

from clipcurate.config.check import ConfigError


def check_evaluation_root(config: Mapping) -> None:
    """``evaluation.data_root``: refused on the tiny world (no effect there); must exist at real scale."""
    root = (config.get("evaluation") or {}).get("data_root")
    if root is None:
        return
    if config["pool"]["source"] == "world":
        raise ConfigError(
            f"config: evaluation.data_root: {root!r} has no effect with pool.source: world (the tiny world "
            "evaluates its own generated tasks in resources/world/eval); remove it, or use a real pool"
        )
    if not Path(root).is_dir():
        raise ConfigError(
            f"config: evaluation.data_root: {root} is not a directory; expected the suite's pre-downloaded "
            "evaluation sets (relative paths are read from the workflow's working directory)"
        )


def _within_size(config: Mapping, recipe: Mapping, pool: int) -> int:
    """The rows a recipe samples from: the pool, or for ``within`` a ``subpool`` score its expected size
    ``floor(fraction * pool)`` (the drawn size varies by a few standard deviations around it; the
    sampler checks the real one). Other ``within`` scores: the pool (their size is known only when run)."""
    ref = recipe.get("within")
    entry = (config.get("scores") or {}).get(str(ref).partition(":")[0]) if ref else None
    if isinstance(entry, Mapping) and entry.get("method") == "subpool":
        f = (entry.get("params") or {}).get("fraction")
        if isinstance(f, (int, float)) and 0 < f <= 1:
            return int(f * pool)
    return pool


def check_sampler_sizes(config: Mapping) -> None:
    """SCS/HCS recipes whose ``n`` exceeds what ``scale.pool_size`` rows can give (see the module docstring)."""
    from clipcurate.sample import subset
    from clipcurate.sample.validate import SamplingError
    from clipcurate.sample.within import recipe_n_target

    pool = int(config["scale"]["pool_size"])
    for name, recipe in config["recipes"].items():
        method = recipe["sample"].get("method")
        if method not in ("scs", "hcs"):
            continue
        m = _within_size(config, recipe, pool)
        what = "scale.pool_size" if m == pool else f"the expected size of the sub-pool {recipe['within']}"
        try:
            cfg = subset.resolve_sample_cfg(recipe["sample"], recipe_n_target(recipe, config["scale"]), name)
        except SamplingError as e:  # check_samplers names it first; here only for safety
            raise ConfigError(f"config: {e}") from None
        n, where = cfg["n"], f"config: recipes.{name}.sample"
        if method == "scs":
            g, alpha = cfg["group_size"], float(cfg["alpha"])
            if min(g, n) > m:
                raise ConfigError(
                    f"{where}.group_size: a round draws min(group_size, n) = {min(g, n)} distinct examples, more than "
                    f"the pool's {m} ({what}); expected group_size <= {m}"
                )
            if math.isinf(alpha) and n > m:  # (group_size >= n > m is the round error above)
                raise ConfigError(
                    f"{where}.n: {n} examples without replacement (alpha = inf) from a pool of {m} ({what}); "
                    f"expected n <= {m} or a finite alpha"
                )
        elif cfg["beta"] * m < n:
            raise ConfigError(
                f"{where}.beta: beta * pool size = {cfg['beta']} * {m} = {cfg['beta'] * m} < n = {n}; the cap "
                f"cannot reach n (expected beta >= {-(-n // m)})"
            )


def _declared_outputs(config: Mapping, score: str):
    from clipcurate.scores import UnknownMethodError, get

    entry = (config.get("scores") or {}).get(score)
    if not isinstance(entry, Mapping):
        return None, None
    try:
        return entry.get("method"), tuple(get(entry.get("method")).outputs)
    except UnknownMethodError:  # named by clipcurate.scores.plan
        return entry.get("method"), None


def _check_refs(config: Mapping, refs, key: str) -> None:
    from clipcurate.scores.plan import parse_score_ref

    for ref in [refs] if isinstance(refs, str) else list(refs or []):
        score, column = parse_score_ref(ref)
        method, outputs = _declared_outputs(config, score)
        if outputs is not None and column not in outputs:
            raise ConfigError(
                f"config: {key}: {ref!r} reads column {column!r}, but score {score!r} (method {method}) gives "
                f"{list(outputs)}; expected one of " + ", ".join(repr(f"{score}:{c}" if c != "score" else score) for c in outputs)
            )


def check_score_columns(config: Mapping) -> None:
    """Each score reference reads a column its score declares (mixes, score inputs, FLYT runs)."""
    from clipcurate.scores import UnknownMethodError, get
    from clipcurate.scores.inputs import Scores
    from clipcurate.mix.plan import plan_mix

    for name, entry in (config.get("scores") or {}).items():
        try:
            m = get(entry.get("method"))
        except UnknownMethodError:
            continue
        for kind in m.inputs.values():
            if isinstance(kind, Scores) and kind.key in entry:
                _check_refs(config, entry[kind.key], f"scores.{name}.{kind.key}")
    for name in config.get("mixes") or {}:
        _check_refs(config, plan_mix(config, name).inputs, f"mixes.{name}.inputs")
    for name, run in ((config.get("flyt") or {}).get("runs") or {}).items():
        _check_refs(config, run.get("inputs"), f"flyt.runs.{name}.inputs")


def check_all(config: Mapping) -> None:
    """Every check of this module, in the order of the module docstring."""
    check_evaluation_root(config)
    check_sampler_sizes(config)
    check_score_columns(config)
