"""The one runner of score methods: load a plan's declared inputs, call the method, write the file.

The rows being scored are the pool index's rows (a pool-level method) or one chunk's rows (a
chunk-level method; a chunk is a run of contiguous shards, so its rows are contiguous in the index).
Every input is loaded row-aligned with those rows, and every alignment is checked, so that a method
function sees plain arrays and tables in the same order as the uids it scores:

* embeddings: the chunk's embedding file (or every chunk's, concatenated), uids compared;
* metadata: the download's per-shard parquet files of the chunk's shards (img2dataset writes one
  beside each tar), matched by sample key; only those shards are read, never the whole pool's;
* reference embeddings: the reference set's embedding file, whole;
* artifacts: the path string;
* other scores: the pool-wide score files, checked against the index, sliced to the chunk's rows;
* truth: ``truth.parquet`` of the world, matched by uid.

Outputs: ``score`` is written as float32 and must be finite; ``keep`` must be boolean; ``count``
(repeat counts) must be integer and non-negative, and is written as uint32 (:func:`clipcurate.io.check_counts`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate import io
from clipcurate.progress import progress
from clipcurate.scores import get
from clipcurate.scores.plan import ScorePlan, _as_plan

log = logging.getLogger(__name__)

#: img2dataset's per-shard parquet names DataComp's ``text`` column ``caption``.
METADATA_SOURCE_NAMES = {"text": "caption"}


class Rows:
    """The rows being scored: uid, shard, key, and their offset in the pool index."""

    def __init__(self, index_path, chunk: int | None = None):
        self.index_path = index_path
        self.chunk = chunk
        if chunk is None:
            self.table = io.read_index(index_path, columns=["uid", "shard", "key"])
            self.offset = 0
        else:
            self.table = pq.read_table(index_path, columns=["uid", "shard", "key"], filters=[("chunk", "=", int(chunk))])
            self.offset = chunk_offset(index_path, int(chunk))
        self.uids = self.table.column("uid")

    def __len__(self):
        return self.table.num_rows

    def where(self) -> str:
        return "the pool" if self.chunk is None else f"chunk {self.chunk}"


def chunk_offset(index_path, chunk: int) -> int:
    """Index row of the chunk's first sample (chunks are contiguous: the index is sorted by shard).

    Reads only the ``chunk`` column of the row groups that straddle the chunk's start, using the
    row-group statistics for the others, so a per-chunk job does not read the whole 128M-row column.
    """
    pf = pq.ParquetFile(index_path)
    col = pf.schema_arrow.get_field_index("chunk")
    offset = 0
    for rg in range(pf.metadata.num_row_groups):
        meta = pf.metadata.row_group(rg)
        stats = meta.column(col).statistics
        if stats is not None and stats.has_min_max and stats.max < chunk:
            offset += meta.num_rows
            continue
        if stats is not None and stats.has_min_max and stats.min >= chunk:
            break
        values = pf.read_row_group(rg, columns=["chunk"]).column("chunk").to_numpy()
        if (np.diff(values) < 0).any():
            raise io.ContractError(f"{index_path}: the chunk column is not sorted; rebuild the index")
        offset += int(np.searchsorted(values, chunk, side="left"))
        if values[-1] >= chunk:
            break
    return offset


def read_rows(path, column: str, offset: int, n: int) -> np.ndarray:
    """Rows ``offset .. offset + n`` of one column, reading only the row groups that hold them."""
    pf = pq.ParquetFile(path)
    start, parts = 0, []
    for rg in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(rg).num_rows
        if start + rows > offset and start < offset + n:
            values = pf.read_row_group(rg, columns=[column]).column(column).to_numpy()
            parts.append(values[max(0, offset - start) : offset + n - start])
        start += rows
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def _check_uids(path_desc: str, uids: pa.ChunkedArray | pa.Array, rows: Rows) -> None:
    uids = uids if isinstance(uids, pa.ChunkedArray) else pa.chunked_array([uids])
    if len(uids) != len(rows):
        raise io.ContractError(f"{path_desc}: {len(uids)} rows, but {rows.where()} of the index has {len(rows)}")
    if len(uids) and not pc.all(pc.equal(uids.cast(pa.string()), rows.uids)).as_py():
        row = int(pc.index(pc.not_equal(uids.cast(pa.string()), rows.uids), True).as_py())
        raise io.ContractError(
            f"{path_desc}: row {row} has uid {uids[row].as_py()}, the index has {rows.uids[row].as_py()} "
            f"({rows.where()}); rebuild it from the current index"
        )


def load_embeddings(paths, rows: Rows) -> dict:
    from clipcurate.embed import read_embeddings

    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    parts = [read_embeddings(p) for p in paths]
    if not parts:
        raise io.ContractError("no embedding files given")
    out = {
        "uid": pa.chunked_array([c for p in parts for c in p["uid"].chunks], pa.string()),
        "image": np.concatenate([p["image"] for p in parts]) if len(parts) > 1 else parts[0]["image"],
        "text": np.concatenate([p["text"] for p in parts]) if len(parts) > 1 else parts[0]["text"],
    }
    _check_uids(", ".join(map(str, paths)) if len(paths) < 4 else f"{paths[0]} .. {paths[-1]}", out["uid"], rows)
    return out


def load_metadata(shards_dir, columns: Sequence[str], rows: Rows) -> pa.Table:
    """The requested metadata columns of the rows, from the download's per-shard parquet files."""
    from clipcurate.pool import SHARD_DIGITS

    shards = rows.table.column("shard").to_numpy()
    keys = rows.table.column("key")
    parts = []
    bounds = np.flatnonzero(np.diff(shards)) + 1 if len(shards) else np.array([], int)
    for lo, hi in zip(np.r_[0, bounds].astype(int), np.r_[bounds, len(shards)].astype(int)):
        if hi <= lo:
            continue
        shard = int(shards[lo])
        path = Path(shards_dir) / f"{shard:0{SHARD_DIGITS}d}.parquet"
        if not path.exists():
            raise io.ContractError(f"{path}: the download's metadata of shard {shard} not found")
        available = pq.read_schema(path).names
        source = [METADATA_SOURCE_NAMES.get(c, c) for c in columns]
        missing = [c for c, s in zip(columns, source) if s not in available]
        if missing:
            raise io.ContractError(
                f"{path}: no metadata column(s) {missing} (it has {available}); add them to the download's "
                "save_additional_columns"
            )
        t = pq.read_table(path, columns=sorted({"key", *source}))
        pos = pc.index_in(keys[lo:hi], value_set=t.column("key").cast(pa.string()).combine_chunks())
        if pos.null_count:
            k = keys[lo + int(pc.index(pc.is_null(pos), True).as_py())].as_py()
            raise io.ContractError(f"{path}: sample key {k} of the index is not in the shard's metadata")
        t = t.take(pos)
        parts.append(pa.table({c: t.column(s) for c, s in zip(columns, source)}))
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(parts).combine_chunks()


def load_reference(path) -> dict:
    from clipcurate.embed import read_embeddings

    path = Path(path)
    emb = read_embeddings(path)
    label = None
    if "label" in pq.read_schema(path).names:
        col = pq.read_table(path, columns=["label"]).column("label")
        if col.null_count == 0:
            label = col.to_numpy().astype(np.int64)
    return {"image": emb["image"], "text": emb["text"], "label": label}


def load_scores(refs, index_path, rows: Rows) -> dict:
    """Score columns of the rows: pool files are checked against the index (by fingerprint when they
    carry it), then a chunk reads only its rows, checked to be null-free and finite."""
    out, cache = {}, {}
    for label, path, column in refs:
        if (path, column) not in cache:
            if rows.chunk is None:
                values = io.read_scores(path, index_path, [column])[column]
            else:
                if not Path(path).exists():
                    raise io.ContractError(f"{path}: score file not found")
                io.check_alignment(path, index_path)
                if column not in io.score_columns(path):
                    raise io.ContractError(f"{path}: no column {column!r}; it has {io.score_columns(path)}")
                values = read_rows(path, column, rows.offset, len(rows))
                if values.dtype == object or (values.dtype != np.bool_ and not np.isfinite(values).all()):
                    raise io.ContractError(f"{path}: column {column!r} has a null or non-finite value in {rows.where()}")
            cache[(path, column)] = values
        out[label] = cache[(path, column)]
    return out


def load_truth(world_dir, rows: Rows) -> pa.Table:
    path = Path(world_dir) / "truth.parquet"
    if not path.exists():
        raise io.ContractError(f"{path}: ground truth not found (only the tiny world has one)")
    truth = pq.read_table(path)
    pos = pc.index_in(rows.uids, value_set=truth.column("uid").combine_chunks())
    if pos.null_count:
        first = rows.uids[int(pc.index(pc.is_null(pos), True).as_py())].as_py()
        raise io.ContractError(f"{path}: {pos.null_count} pool uids have no ground-truth row, e.g. {first}")
    return truth.take(pos)


def load_inputs(plan: ScorePlan, files: Mapping[str, Any], rows: Rows) -> dict:
    """Every declared input of the plan, loaded row-aligned with ``rows``."""
    loaded = {}
    for arg, spec in plan.inputs.items():
        kind, f = spec["kind"], files[arg]
        if kind == "embeddings":
            loaded[arg] = load_embeddings(f, rows)
        elif kind == "metadata":
            loaded[arg] = load_metadata(f, spec["columns"], rows)
        elif kind == "reference":
            loaded[arg] = load_reference(f)
        elif kind == "artifact":
            loaded[arg] = str(f)
        elif kind == "scores":
            loaded[arg] = load_scores(spec["refs"], files["index"], rows)
        elif kind == "truth":
            loaded[arg] = load_truth(f, rows)
        else:
            raise io.ContractError(f"score {plan.name}: unknown input kind {kind!r}")
    return loaded


def check_outputs(plan: ScorePlan, cols, n: int) -> dict[str, np.ndarray]:
    """The method's returned columns, checked: declared names, n rows, finite float score, bool keep,
    non-negative integer count."""
    where = f"score {plan.name} (method {plan.method})"
    if not isinstance(cols, Mapping) or not cols:
        raise ValueError(f"{where}: the method must return a non-empty dict of columns, got {type(cols).__name__}")
    out = {}
    for name, values in cols.items():
        if name not in plan.outputs:
            raise ValueError(f"{where}: returned column {name!r}, but declares outputs {list(plan.outputs)}")
        values = np.asarray(values)
        if values.shape != (n,):
            raise ValueError(f"{where}: column {name!r} has shape {values.shape}, expected ({n},)")
        if name == "keep":
            if values.dtype != np.bool_:
                raise ValueError(f"{where}: column 'keep' must be boolean, got {values.dtype}")
        elif name == "count":
            values = io.check_counts(values, f"{where}: column 'count'")
        else:
            values = values.astype(np.float32, copy=False)
            finite = np.isfinite(values)
            if not finite.all():
                row = int(np.argmin(finite))
                raise ValueError(f"{where}: column {name!r} has a non-finite value ({values[row]}) at row {row}")
        out[name] = values
    return out


def run_score(plan, files: Mapping[str, Any], out_path, chunk: int | None = None, report_path=None) -> int:
    """Compute a score over one chunk (``chunk`` given) or the whole pool and write its file.

    ``plan`` is a :class:`~clipcurate.scores.plan.ScorePlan` or its dict form (the rule's params);
    ``files`` the rule's inputs (:func:`clipcurate.scores.plan.score_files`). A chunk file carries no
    fingerprint (:func:`gather` checks it); a pool file carries the index's. A method declared with
    ``report=True`` returns a ``report`` dict too, written to ``report_path`` and logged.
    """
    plan = _as_plan(plan)
    m = get(plan.method)
    rows = Rows(files["index"], chunk)
    loaded = load_inputs(plan, files, rows)
    cols = m.func(dict(plan.params), **loaded)
    if plan.report:
        cols = dict(cols)
        report = cols.pop("report", None)
        if not isinstance(report, Mapping):
            raise ValueError(f"score {plan.name} (method {plan.method}): declares report=True but returned no 'report' dict")
        if report_path is None:
            raise ValueError(f"score {plan.name}: a report_path is needed for method {plan.method}'s report")
        io.write_json(dict(report), report_path)
        log.info("%s report: %s", plan.name, report)
    cols = check_outputs(plan, cols, len(rows))
    fp = None if chunk is not None else io.index_fingerprint(files["index"])
    io.write_scores(out_path, rows.uids, cols, fingerprint=fp)
    return len(rows)


def gather(chunk_paths: Sequence, index_path, out_path) -> int:
    """Concatenate per-chunk score files in chunk order into one pool-wide, index-aligned file."""
    tables = [pq.read_table(p) for p in progress(chunk_paths, desc="gather score chunks", unit="chunks")]
    names = [t.column_names for t in tables]
    for p, n in zip(chunk_paths, names):
        if n != names[0]:
            raise io.ContractError(f"{p}: columns {n} differ from {chunk_paths[0]}'s {names[0]}; a method returns the same columns for every chunk")
    table = pa.concat_tables(tables)
    ref = io.read_index(index_path, columns=["uid"]).column("uid")
    io.check_uid_order(Path(out_path), table.column("uid"), ref)
    io.write_table(table.replace_schema_metadata(None), out_path, fingerprint=io.index_fingerprint(index_path))
    return table.num_rows
