"""Config blocks that expand into ordinary entries, before those entries are checked.

The DFN paper's data-quality experiment (config ``dfn_quality``) is one block that stands for a
grid of models, scores and recipes (:func:`clipcurate.train.dfn.expand_quality_experiment`). They are
added to the config by :func:`expand_config`, which :func:`clipcurate.config.check.prepare` runs
after the block itself is validated and before the schema and every cross-check run again on the
expanded config: an added entry is checked exactly like a configured one.
"""

from __future__ import annotations

from typing import Mapping

from clipcurate.config.rows_only import restrict_points


def _expanded(config: Mapping) -> dict:
    from clipcurate.config.errors import ConfigError
    from clipcurate.train.dfn import DFNError, expand_quality_experiment

    try:
        return expand_quality_experiment(config["dfn_quality"], config["models"], int(config["seed"]), config["recipes"])
    except DFNError as e:
        raise ConfigError(str(e)) from None


def expand_config(config: dict) -> list[dict]:
    """Add the data-quality experiment's models, scores and recipes to ``config`` (in place) and
    return its points (``{name, replaced, seed, model, recipe}``); ``[]`` without the block.
    A name the config already defines otherwise is an error; expanding twice changes nothing."""
    from clipcurate.config.errors import ConfigError

    if not config.get("dfn_quality"):
        return []
    entries = _expanded(config)
    for kind in ("models", "scores", "recipes"):
        for name, entry in entries[kind].items():
            if name in config[kind] and config[kind][name] != entry:
                raise ConfigError(f"config: dfn_quality adds {kind[:-1]} {name!r}, which config already defines")
            config[kind][name] = entry
    return restrict_points(config, entries["points"])


def quality_points(config: Mapping) -> list[dict]:
    """The experiment's points (``[]`` without a ``dfn_quality`` block); a pure function of the
    block, so it gives the same points before and after :func:`expand_config`. ``rows_only``
    (:mod:`clipcurate.config.rows_only`) may keep only some of them; every entry is added regardless."""
    return restrict_points(config, _expanded(config)["points"]) if config.get("dfn_quality") else []
