"""Config ``rows_only``: a run that builds only some rows of its tables and some DFN data-quality points.

A claims run (:mod:`clipcurate.report.claims_runs`) compares two rows of a table on one metric; on a
single machine the other rows' trainings cost most of its time (the DFN data-quality experiment
alone trains nine DFNs and nine CLIPs, of which its claims read three points). ``rows_only`` maps a
table's name, or the data-quality CSV's path, to the row labels to keep (or the filter-quality
report's path to its entries: scores, ``score:column`` and recipes, :func:`quality_entries`); everything else of the
config is unchanged, so the kept rows' models, subsets and evaluations are exactly those of the full
table (the same recipe names, the same seeds, the same files).

:func:`restrict_tables` runs at the end of :func:`clipcurate.config.check.prepare`, after every check
(which sees whole tables); :func:`restrict_points` filters the data-quality points wherever
they are expanded (:mod:`clipcurate.config.expand`). A key that names neither a table nor the
data-quality file, or a label that names no row, is an error naming both.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from clipcurate.config.errors import ConfigError

#: the data-quality experiment's CSV (rule dfn_data_quality), whose rows are the experiment's points
DATA_QUALITY_FILE = "results/figures/dfn_data_quality.csv"
#: the filter-quality report (rule score_quality), whose rows are scores (``name``, ``name:keep``) and recipes
SCORE_QUALITY_FILE = "results/reports/score_quality.csv"


def _wanted(config: Mapping) -> dict:
    return dict(config.get("rows_only") or {})


def restrict_tables(config: dict) -> None:
    """Keep, in each table ``rows_only`` names, only the rows it lists (in the table's order)."""
    wanted = _wanted(config)
    tables = config.get("tables") or {}
    for key, labels in wanted.items():
        if key == DATA_QUALITY_FILE:
            if not config.get("dfn_quality"):
                raise ConfigError(f"config: rows_only names {key}, but there is no dfn_quality block")
            continue
        if key == SCORE_QUALITY_FILE:
            unknown = [e for e in labels if e.partition(":")[0] not in config["scores"] and e not in config["recipes"]]
            if unknown:
                raise ConfigError(f"config: rows_only.{key}: {unknown} are neither scores (name or name:column) nor recipes")
            continue
        if key not in tables:
            raise ConfigError(f"config: rows_only.{key}: not a table (tables: {sorted(tables)}), "
                              f"{DATA_QUALITY_FILE} nor {SCORE_QUALITY_FILE}")
        rows = tables[key]["rows"]
        have = [r["label"] for r in rows]
        unknown = [lab for lab in labels if lab not in have]
        if unknown:
            raise ConfigError(f"config: rows_only.{key}: {unknown} are not rows of table {key!r}; rows: {have}")
        tables[key]["rows"] = [r for r in rows if r["label"] in set(labels)]


def quality_entries(config: Mapping) -> tuple[set, set] | None:
    """(scores, recipes) the filter-quality report keeps, or ``None`` (every one it reports)."""
    entries = _wanted(config).get(SCORE_QUALITY_FILE)
    if entries is None:
        return None
    return {e.partition(":")[0] for e in entries if e not in config["recipes"]}, {e for e in entries if e in config["recipes"]}


def restrict_points(config: Mapping, points: Sequence[Mapping]) -> list:
    """The data-quality points ``rows_only`` keeps (all of them when it does not name the file)."""
    labels = _wanted(config).get(DATA_QUALITY_FILE)
    if labels is None:
        return list(points)
    from clipcurate.train.dfn import point_label

    have = [point_label(p) for p in points]
    unknown = [lab for lab in labels if lab not in have]
    if unknown:
        raise ConfigError(f"config: rows_only.{DATA_QUALITY_FILE}: {unknown} are not points of the data-quality "
                          f"experiment; points: {have}")
    return [p for p in points if point_label(p) in set(labels)]
