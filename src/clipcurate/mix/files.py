"""The mix rule's file-level entry point: read named score columns, mix them, write the mix and its
statistics (docs/architecture.md §3: ``results/mixes/{mix}.parquet`` and ``{mix}.stats.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from clipcurate.core import fileio, poolindex, scorefiles
from clipcurate.mix.aggregate import MixingError, MixResult, check_params, mix_details


def stats_path(out_path: str | os.PathLike) -> Path:
    """``results/mixes/x.parquet`` -> ``results/mixes/x.stats.json``."""
    out_path = Path(out_path)
    stem = out_path.name[: -len(".parquet")] if out_path.name.endswith(".parquet") else out_path.name
    return out_path.with_name(stem + ".stats.json")


def mix_files(
    score_specs: Sequence[tuple[str, str, str]],
    index_path: str | os.PathLike,
    method: str,
    params: Mapping[str, Any] | None,
    out_path: str | os.PathLike,
    fingerprint: str | None = None,
) -> MixResult:
    """Read named score columns, mix them, write ``out_path`` and ``<out_path stem>.stats.json``.

    ``score_specs`` is a list of ``(input_name, score_file_path, column)``. Every file is read with
    ``scorefiles.read_scores``, which stops with a ContractError naming the file if it is not aligned with the
    pool index or holds non-finite values. The output has ``uid`` (from the index), ``score`` and, for
    set-producing methods, ``keep`` (and ``count`` for :data:`clipcurate.mix.aggregate.COUNT_METHODS`); it records the index fingerprint. The stats file holds the
    per-input mean/std used for standardization (null when the method does not standardize), the
    weights used and the kept counts. ``fingerprint`` defaults to the index's own; a value that
    differs from it is refused, since the output's rows are the index's.
    """
    score_specs = [tuple(s) for s in score_specs]
    if not score_specs:
        raise MixingError("score_specs: no inputs (the input list is empty)")
    for s in score_specs:
        if len(s) != 3:
            raise MixingError(f"score_specs: expected (input_name, score_file, column), got {s!r}")
    names = [str(s[0]) for s in score_specs]
    params = check_params(method, names, params)  # fail before reading gigabytes

    index_fp = poolindex.index_fingerprint(index_path)
    if fingerprint is not None and fingerprint != index_fp:
        raise fileio.ContractError(f"{index_path}: fingerprint {fingerprint} is not the index's ({index_fp})")

    # One column per read: pyarrow concatenates a column's row groups into a new numpy array while
    # the table is alive, so reading a whole 12-column file at once would briefly hold it twice.
    # Re-checking alignment per column is cheap for files carrying the index fingerprint.
    loaded: dict[tuple[str, str], np.ndarray] = {}
    cols = {}
    for name, path, column in score_specs:
        key = (str(path), str(column))
        if key not in loaded:
            loaded[key] = scorefiles.read_scores(path, index_path, [column])[column]
        cols[name] = loaded[key]
    del loaded

    result = mix_details(method, cols, params)
    del cols

    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid")
    meta = {"clipcurate.mix.method": method, "clipcurate.mix.params": json.dumps(params, sort_keys=True, default=fileio._json_default)}
    scorefiles.write_scores(out_path, uids, result.columns, fingerprint=index_fp, metadata=meta)

    stats = {
        "method": method,
        "params": params,
        "n_rows": len(uids),
        "standardized": result.means is not None,
        "inputs": {
            name: {
                "file": str(path),
                "column": column,
                "mean": result.means[name] if result.means is not None else None,
                "std": result.stds[name] if result.stds is not None else None,
                "weight": result.weights[name] if result.weights is not None and name in result.weights else None,
            }
            for name, path, column in score_specs
        },
        "weights": result.weights,
        "counts": result.counts,
    }
    fileio.write_json(stats, stats_path(out_path))
    return result
