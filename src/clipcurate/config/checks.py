"""Cross-key checks of the pool, evaluation and table sections (run by
:func:`clipcurate.config.check.prepare`, hence by the Snakefile and by ``python -m
clipcurate.config.check`` alike). Each error is a :class:`~clipcurate.config.check.ConfigError`
that names the key and says what was expected."""

from __future__ import annotations

from typing import Mapping


def _error(message: str):
    from clipcurate.config.errors import ConfigError

    return ConfigError(message)


def check_pool_config(config: Mapping) -> None:
    """The pool, download and evaluation sections agree: DataComp's npz embeddings need a DataComp
    pool and its metadata; a DataComp pool needs metadata or shards, and pre-downloaded eval sets."""
    pool = config["pool"]
    real_scale = pool["source"] == "datacomp"
    using = sorted(n for n, m in config["models"].items() if m.get("precomputed"))
    if using and not real_scale:
        raise _error(
            f"config: models.{using[0]}.precomputed: DataComp's npz embeddings exist only with "
            f"pool.source: datacomp (pool.source is {pool['source']!r})"
        )
    if using and not pool.get("metadata_dir"):
        raise _error(
            f"config: models.{using[0]}.precomputed needs pool.metadata_dir (the metadata parquet and "
            "npz files of the pool)"
        )
    if real_scale and not pool.get("shards_dir") and not pool.get("metadata_dir"):
        raise _error("config: pool.source datacomp needs pool.metadata_dir (to download) or pool.shards_dir (shards you have)")
    if real_scale and not config["evaluation"].get("data_root"):
        raise _error(
            "config: evaluation.data_root must name the directory of the suite's pre-downloaded evaluation "
            "sets when pool.source is datacomp (the tiny world's eval tasks are not built at real scale)"
        )


def check_table_plots(config: Mapping) -> None:
    """A ``plot: {kind: lines}`` table draws columns of its own: each must be one of its columns."""
    for name, table in config["tables"].items():
        plot = table.get("plot") or {}
        if plot.get("kind") != "lines":
            continue
        for key, cols in (("x", [plot.get("x", "dataset size")]), ("panels", plot.get("panels") or ["ImageNet", "Average"])):
            for c in cols:
                if c not in table["columns"]:
                    raise _error(f"config: tables.{name}.plot.{key}: {c!r} is not among the table's columns {table['columns']}")


def check_claims_config(config: Mapping) -> None:
    """Every claim of ``reports.claims`` names a configured table, two of its rows and one of its
    score columns (:func:`clipcurate.report.claims.check_claims`), so that a typo is found when the
    workflow is planned, not after the runs it decides over.

    Claims are decided over tiny-world seeds (``reports.claims_runs``): at real scale
    (``pool.source: datacomp``), where a scale file may rename a table's columns (the Devil table's
    digit column is ``mnist`` and ``vtab/svhn`` there), they are not checked, and the claims target
    refuses to run (:meth:`clipcurate.config.claims_wiring.ClaimsWiring.claims_run_files`)."""
    from clipcurate.report.claims import ClaimError, check_claims

    if (config.get("pool") or {}).get("source") == "datacomp":
        return
    claims = (config.get("reports") or {}).get("claims") or []
    try:
        check_claims(claims, config["tables"])
    except ClaimError as e:
        raise _error(f"config: {e}") from None
