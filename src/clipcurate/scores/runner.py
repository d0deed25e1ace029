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

Outputs: ``score`` is written as float32 and must be finite; ``keep`` must be boolean.
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
            chunks = pq.read_table(index_path, columns=["chunk"]).column("chunk").to_numpy()
            self.offset = int(np.searchsorted(chunks, int(chunk), side="left"))
            if self.table.num_rows and not (chunks[self.offset : self.offset + self.table.num_rows] == int(chunk)).all():
                raise io.ContractError(f"{index_path}: the rows of chunk {chunk} are not contiguous; rebuild the index")
        self.uids = self.table.column("uid")

    def __len__(self):
        return self.table.num_rows

    def where(self) -> str:
        return "the pool" if self.chunk is None else f"chunk {self.chunk}"


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
    out, cache = {}, {}
    for label, path, column in refs:
        if (path, column) not in cache:
            values = io.read_scores(path, index_path, [column])[column]
            cache[(path, column)] = values[rows.offset : rows.offset + len(rows)]
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
    """The method's returned columns, checked: declared names, n rows, finite float score, bool keep."""
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
        else:
            values = values.astype(np.float32, copy=False)
            finite = np.isfinite(values)
            if not finite.all():
                row = int(np.argmin(finite))
                raise ValueError(f"{where}: column {name!r} has a non-finite value ({values[row]}) at row {row}")
        out[name] = values
    return out


def run_score(plan, files: Mapping[str, Any], out_path, chunk: int | None = None) -> int:
    """Compute a score over one chunk (``chunk`` given) or the whole pool and write its file.

    ``plan`` is a :class:`~clipcurate.scores.plan.ScorePlan` or its dict form (the rule's params);
    ``files`` the rule's inputs (:func:`clipcurate.scores.plan.score_files`). A chunk file carries no
    fingerprint (:func:`gather` checks it); a pool file carries the index's.
    """
    plan = _as_plan(plan)
    m = get(plan.method)
    rows = Rows(files["index"], chunk)
    loaded = load_inputs(plan, files, rows)
    cols = check_outputs(plan, m.func(dict(plan.params), **loaded), len(rows))
    fp = None if chunk is not None else io.index_fingerprint(files["index"])
    io.write_scores(out_path, rows.uids, cols, fingerprint=fp)
    return len(rows)


def gather(chunk_paths: Sequence, index_path, out_path) -> int:
    """Concatenate per-chunk score files in chunk order into one pool-wide, index-aligned file."""
    tables = [pq.read_table(p) for p in chunk_paths]
    names = [t.column_names for t in tables]
    for p, n in zip(chunk_paths, names):
        if n != names[0]:
            raise io.ContractError(f"{p}: columns {n} differ from {chunk_paths[0]}'s {names[0]}; a method returns the same columns for every chunk")
    table = pa.concat_tables(tables)
    ref = io.read_index(index_path, columns=["uid"]).column("uid")
    io.check_uid_order(Path(out_path), table.column("uid"), ref)
    io.write_table(table.replace_schema_metadata(None), out_path, fingerprint=io.index_fingerprint(index_path))
    return table.num_rows
