"""Regrouping per-chunk rows into cluster shards and scattering the results back to pool order.

Some pool-level methods need every member of a cluster at once (SemDeDup's near-duplicates within a
k-means cluster, duplication within clusters). At 128M rows the members of a cluster are spread over
every chunk. This module is the shuffle between a staged method's per-chunk ``apply`` and its
per-cluster ``group`` function (:mod:`clipcurate.scores.stages`), done with files so that each job
holds only its share:

1. Each apply job writes its chunk's file sorted by group shard (``shard = cluster mod
   group_shards``, so no job needs the global cluster sizes), one parquet row group per shard, with
   each row's pool row (``_row``), cluster (``_group``), the method's output columns and the member
   arrays (``_m_<name>``, e.g. an embedding) the group function needs.
2. Group shard ``s`` reads, from every chunk file, only the row groups of shard ``s`` (row-group
   statistics of ``_shard``), so the data crosses the disk once; it calls the group function once per
   cluster with its members in pool order, and writes ``_row`` + the columns the function returned.
3. :func:`gather` streams the chunk files in pool order, replaces the values of the grouped rows by
   the group results, checks every uid against the pool index and writes the score file chunk by
   chunk; its memory is one chunk plus the group results' row numbers and values.

Memory of a group job: its members (about ``n / group_shards`` rows of the member arrays, more when
clusters are unequal: the largest cluster always lands in one job).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate.core import alignment, fileio, poolindex, scorefiles

ROW, GROUP, SHARD = "_row", "_group", "_shard"
MEMBER = "_m_"
RESERVED = ("uid", ROW, GROUP, SHARD)


def shard_of(group: np.ndarray, n_shards: int) -> np.ndarray:
    """The group shard of each row: cluster id modulo ``n_shards``; -1 for a row in no cluster."""
    group = np.asarray(group, dtype=np.int64)
    return np.where(group >= 0, group % int(n_shards), -1)


def _column(values: np.ndarray) -> pa.Array:
    values = np.ascontiguousarray(values)
    if values.ndim == 1:
        return pa.array(values)
    if values.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
    raise ValueError(f"member arrays are 1-D or 2-D, got shape {values.shape}")


def _numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_fixed_size_list(col.type):
        return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size)
    return col.to_numpy(zero_copy_only=False)


def write_grouped_chunk(path, uids, offset: int, columns: Mapping[str, np.ndarray], group: np.ndarray,
                        members: Mapping[str, np.ndarray], n_shards: int) -> None:
    """Write one chunk's apply output sorted by group shard, one row group per shard (atomically).

    ``uids`` are the chunk's rows in pool order, starting at pool row ``offset``; ``columns`` the
    method's outputs for every row; ``group`` each row's cluster (-1: none); ``members`` the arrays
    (first dimension: the chunk's rows) the group function reads of each member.
    """
    n = len(uids)
    group = np.asarray(group)
    if group.shape != (n,) or not np.issubdtype(group.dtype, np.integer):
        raise ValueError(f"{path}: 'group' must be an integer array of shape ({n},), got {group.dtype} {group.shape}")
    if n and group.min() < -1:
        raise ValueError(f"{path}: 'group' has {int(group.min())}; cluster ids are >= 0, or -1 for a row in no cluster")
    if int(n_shards) < 1:
        raise ValueError(f"{path}: group_shards must be >= 1, got {n_shards}")
    shard = shard_of(group, n_shards)
    order = np.argsort(shard, kind="stable")  # rows stay in pool order within a shard
    arrays = {"uid": pa.chunked_array([uids]) if isinstance(uids, pa.Array) else uids}
    arrays["uid"] = arrays["uid"].take(pa.array(order))
    arrays[ROW] = pa.array(int(offset) + order.astype(np.int64))
    arrays[GROUP] = pa.array(group[order].astype(np.int64))
    arrays[SHARD] = pa.array(shard[order].astype(np.int32))
    for name, values in columns.items():
        arrays[name] = pa.array(np.asarray(values)[order])
    for name, values in members.items():
        values = np.asarray(values)
        if values.shape[:1] != (n,):
            raise ValueError(f"{path}: member array {name!r} has shape {values.shape}; expected {n} rows first")
        arrays[MEMBER + name] = _column(values[order])
    table = pa.table(arrays)
    bounds = np.flatnonzero(np.diff(shard[order])) + 1
    with fileio.atomic_path(path, suffix=".parquet") as tmp:
        with pq.ParquetWriter(tmp, table.schema) as w:
            for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n]):
                if hi > lo:
                    w.write_table(table.slice(int(lo), int(hi - lo)), row_group_size=int(hi - lo))
            if n == 0:
                w.write_table(table)


def read_members(paths: Sequence, shard: int) -> dict[str, Any]:
    """The rows of group shard ``shard`` from every chunk file, in pool order: ``row``, ``uid``,
    ``group`` and the member arrays (without their prefix). Only that shard's row groups are read."""
    parts = []
    for p in paths:
        pf = fileio.open_parquet(p, "grouped score chunk")
        names = pf.schema_arrow.names
        if SHARD not in names:
            raise fileio.ContractError(f"{p}: not a grouped score chunk (no {SHARD} column)")
        col = names.index(SHARD)
        cols = ["uid", ROW, GROUP, SHARD, *[n for n in names if n.startswith(MEMBER)]]
        for rg in range(pf.metadata.num_row_groups):
            stats = pf.metadata.row_group(rg).column(col).statistics
            if stats is not None and stats.has_min_max and not (stats.min <= shard <= stats.max):
                continue
            t = pf.read_row_group(rg, columns=cols)
            t = t.filter(pc.equal(t.column(SHARD), shard))
            if t.num_rows:
                parts.append(t)
    if not parts:
        return {"row": np.zeros(0, np.int64), "uid": pa.chunked_array([], pa.string()), "group": np.zeros(0, np.int64)}
    names = [n for n in parts[0].column_names]
    for p, t in zip(paths, parts):
        if t.column_names != names:
            raise fileio.ContractError(f"{p}: columns {t.column_names} differ from {names}; every chunk's apply returns the same members")
    t = pa.concat_tables(parts)
    out = {"row": _numpy(t.column(ROW)).astype(np.int64), "uid": t.column("uid"), "group": _numpy(t.column(GROUP)).astype(np.int64)}
    for n in names:
        if n.startswith(MEMBER):
            out[n[len(MEMBER):]] = _numpy(t.column(n))
    return out


def run_clusters(members: Mapping[str, Any], func: Callable[[Mapping[str, Any]], Mapping], outputs: Sequence[str],
                 where: str = "group") -> dict[str, np.ndarray]:
    """Call ``func(cluster_members)`` once per cluster (clusters in id order, members in pool order)
    and collect its columns into arrays over all members; returns ``row`` + those columns."""
    row, group = np.asarray(members["row"]), np.asarray(members["group"])
    order = np.lexsort((row, group))
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    cols: dict[str, np.ndarray] = {}
    names = None
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)]):
        if hi <= lo:
            continue
        idx = order[lo:hi]
        sub = {k: (v.take(pa.array(idx)) if isinstance(v, (pa.Array, pa.ChunkedArray)) else np.asarray(v)[idx])
               for k, v in members.items()}
        got = func(sub)
        if not isinstance(got, Mapping) or not got:
            raise ValueError(f"{where}: the group function must return a non-empty dict of columns for cluster {group[idx[0]]}")
        if names is None:
            names = sorted(got)
            bad = [c for c in names if c not in outputs]
            if bad:
                raise ValueError(f"{where}: the group function returned {bad[0]!r}; the method's outputs are {list(outputs)}")
        elif sorted(got) != names:
            raise ValueError(f"{where}: cluster {group[idx[0]]} returned columns {sorted(got)}, another {names}; return the same columns")
        for c in names:
            v = np.asarray(got[c])
            if v.shape != (hi - lo,):
                raise ValueError(f"{where}: column {c!r} of cluster {group[idx[0]]} has shape {v.shape}, expected ({hi - lo},)")
            if c not in cols:
                cols[c] = np.empty(len(order), dtype={"keep": np.bool_, "count": np.uint32}.get(c, np.float32))
            if c == "keep" and v.dtype != np.bool_:
                raise ValueError(f"{where}: column 'keep' must be boolean, got {v.dtype}")
            if c == "count":
                v = scorefiles.check_counts(v, f"{where}: column 'count' of cluster {group[idx[0]]}")
            elif c != "keep" and not np.isfinite(v.astype(np.float32)).all():
                raise ValueError(f"{where}: column {c!r} of cluster {group[idx[0]]} has a non-finite value")
            cols[c][lo:hi] = v
    back = np.argsort(row[order], kind="stable")  # results in pool-row order
    return {"row": row[order][back], **{c: v[back] for c, v in cols.items()}}


def write_group_result(path, result: Mapping[str, np.ndarray]) -> None:
    """Write one group shard's result: ``_row`` + the columns the group function returned."""
    table = pa.table({ROW: pa.array(np.asarray(result["row"], np.int64)),
                      **{c: pa.array(v) for c, v in result.items() if c != "row"}})
    fileio.write_table(table, path)


def read_group_results(paths: Sequence) -> dict[str, np.ndarray]:
    """Every group shard's result, sorted by pool row; a row in two shards is an error."""
    tables = [fileio.read_parquet(p, what="group result") for p in paths]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return {"row": np.zeros(0, np.int64)}
    names = tables[0].column_names
    for p, t in zip(paths, tables):
        if sorted(t.column_names) != sorted(names):
            raise fileio.ContractError(f"{p}: columns {t.column_names} differ from {names}; a group function returns the same columns")
    t = pa.concat_tables([t.select(names) for t in tables])
    row = _numpy(t.column(ROW)).astype(np.int64)
    order = np.argsort(row, kind="stable")
    row = row[order]
    if len(row) > 1 and (np.diff(row) == 0).any():
        raise fileio.ContractError(f"{paths[0]} ..: pool row {int(row[np.flatnonzero(np.diff(row) == 0)[0]])} is in two groups")
    return {"row": row, **{c: _numpy(t.column(c))[order] for c in names if c != ROW}}


def index_uids(index_path, offset: int, n: int) -> pa.ChunkedArray:
    """The index's uids of rows ``offset .. offset + n``, reading only the row groups that hold them
    (kept as Arrow strings: no Python object per row)."""
    pf = fileio.open_parquet(index_path, "pool index")
    start, parts = 0, []
    for rg in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(rg).num_rows
        if start + rows > offset and start < offset + n:
            col = pf.read_row_group(rg, columns=["uid"]).column("uid")
            lo = max(0, offset - start)
            parts.append(col.slice(lo, min(rows, offset + n - start) - lo))
        start += rows
    chunks = [c for part in parts for c in part.chunks]
    return pa.chunked_array([pa.chunked_array(chunks, pa.string()).combine_chunks()] if chunks else [], pa.string())


def gather(chunk_paths: Sequence, group_paths: Sequence, index_path, out_path, outputs: Sequence[str] | None = None) -> int:
    """The pool-wide score file: each chunk's rows back in pool order, the grouped rows' values
    replaced by their cluster's results, every uid checked against the index; written chunk by chunk.

    A chunk file without ``_row`` (a plain chunk-level method's) holds its rows in pool order.
    ``outputs`` defaults to the first chunk's columns; every chunk must have the same ones.
    """
    groups = read_group_results(group_paths)
    g_row = groups["row"]
    index_rows = poolindex.index_num_rows(index_path)
    fp = poolindex.index_fingerprint(index_path)
    out_path = Path(out_path)
    start = 0
    schema = None
    with fileio.atomic_path(out_path, suffix=".parquet") as tmp:
        writer = None
        try:
            first = None
            for p in chunk_paths:
                names = fileio.open_parquet(p, "score chunk").schema_arrow.names
                # never the member arrays (the group stage's input): only what the score file holds
                t = fileio.read_parquet(p, [c for c in names if c not in (GROUP, SHARD) and not c.startswith(MEMBER)],
                                        what="score chunk")
                own = [c for c in t.column_names if c not in RESERVED]
                if first is None:
                    first = (p, own)
                    outputs = list(outputs) if outputs is not None else own
                elif own != first[1]:
                    raise fileio.ContractError(f"{p}: columns {own} differ from {first[0]}'s {first[1]}; a method returns "
                                               "the same columns for every chunk")
                missing = [c for c in ("uid", *outputs) if c not in t.column_names]
                if missing:
                    raise fileio.ContractError(f"{p}: no column {missing[0]!r}; it has {t.column_names}")
                if ROW not in t.column_names:
                    t = t.append_column(ROW, pa.array(np.arange(start, start + t.num_rows, dtype=np.int64)))
                rows = _numpy(t.column(ROW)).astype(np.int64)
                order = np.argsort(rows, kind="stable")
                rows = rows[order]
                n = len(rows)
                if n and not np.array_equal(rows, np.arange(start, start + n)):
                    raise fileio.ContractError(f"{p}: rows {rows[0]}..{rows[-1]} are not the next {n} pool rows from {start}")
                if start + n > index_rows:
                    raise fileio.ContractError(f"{p}: the chunks hold more rows than the pool index ({index_rows})")
                uids = t.column("uid").take(pa.array(order))
                alignment.check_uid_order(p, pa.chunked_array([uids.combine_chunks().cast(pa.string())]),
                                          index_uids(index_path, start, n))
                lo, hi = np.searchsorted(g_row, [start, start + n])
                cols = {"uid": uids}
                for c in outputs:
                    v = _numpy(t.column(c))[order]
                    if c in groups and hi > lo:
                        v = v.copy()
                        v[g_row[lo:hi] - start] = groups[c][lo:hi]
                    cols[c] = pa.array(v if c == "keep" else scorefiles.check_counts(v, f"{p}: column 'count'") if c == "count"
                                       else v.astype(np.float32, copy=False))
                table = pa.table(cols)
                if writer is None:
                    meta = {fileio.FINGERPRINT_KEY: fp.encode()}
                    schema = table.schema.with_metadata(meta)
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(table.cast(schema))
                start += n
            if writer is None:
                raise fileio.ContractError(f"{out_path}: no chunk files to gather")
        finally:
            if writer is not None:
                writer.close()
        if start != index_rows:
            raise fileio.ContractError(f"{out_path}: the chunks hold {start} rows, the pool index {index_rows}")
    return start
