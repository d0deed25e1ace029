"""The one runner of score methods: load a plan's declared inputs, call the method, write the file.

The rows being scored are the pool index's rows (a pool-level method) or one chunk's rows (a
chunk-level method; a chunk is a run of contiguous shards, so its rows are contiguous in the index).
Every input is loaded row-aligned with those rows, and every alignment is checked, so that a method
function sees plain arrays and tables in the same order as the uids it scores:

* embeddings: the chunk's embedding file, only the modalities the input declares (``image``,
  ``text``), uids compared; an image variant's image vectors with the plain file's text vectors; a
  pool-level method gets :class:`EmbeddingChunks`, a stream that reads one chunk's file at a time:
  nothing concatenates the pool's embeddings;
* metadata: the download's per-shard parquet files of the chunk's shards (img2dataset writes one
  beside each tar), matched by sample key; only those shards are read, never the whole pool's;
* reference embeddings: the reference set's embedding file, whole; a reference set's images: a
  reader of its shards (:class:`clipcurate.scores.images.ReferenceImages`);
* artifacts: the path string;
* other scores: the pool-wide score files, checked against the index, sliced to the chunk's rows;
* truth: ``truth.parquet`` of the world, matched by uid.

Outputs: ``score`` is written as float32 and must be finite; ``keep`` must be boolean; ``count``
(repeat counts) must be integer and non-negative, and is written as uint32 (:func:`clipcurate.core.scorefiles.check_counts`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate.core import alignment, fileio, poolindex, scorefiles
from clipcurate.scores import get
from clipcurate.scores.plan import ScorePlan, _as_plan, text_input

log = logging.getLogger(__name__)

#: img2dataset's per-shard parquet names DataComp's ``text`` column ``caption``.
METADATA_SOURCE_NAMES = {"text": "caption"}


class Rows:
    """The rows being scored: uid, shard, key, and their offset in the pool index."""

    def __init__(self, index_path, chunk: int | None = None, lazy: bool = False):
        self.index_path = index_path
        self.chunk = chunk
        self._table = None
        self.offset = 0 if chunk is None else chunk_offset(index_path, int(chunk))
        if not lazy:
            self.table  # noqa: B018 - read now (a stage that needs no rows, e.g. a fit, passes lazy=True)

    @property
    def table(self) -> pa.Table:
        if self._table is None:
            if self.chunk is None:
                self._table = poolindex.read_index(self.index_path, columns=["uid", "shard", "key"])
            else:
                self._table = pq.read_table(self.index_path, columns=["uid", "shard", "key"],
                                            filters=[("chunk", "=", int(self.chunk))])
        return self._table

    @property
    def uids(self):
        return self.table.column("uid")

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
            raise fileio.ContractError(f"{index_path}: the chunk column is not sorted; rebuild the index")
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
        raise fileio.ContractError(f"{path_desc}: {len(uids)} rows, but {rows.where()} of the index has {len(rows)}")
    if len(uids) and not pc.all(pc.equal(uids.cast(pa.string()), rows.uids)).as_py():
        row = int(pc.index(pc.not_equal(uids.cast(pa.string()), rows.uids), True).as_py())
        raise fileio.ContractError(
            f"{path_desc}: row {row} has uid {uids[row].as_py()}, the index has {rows.uids[row].as_py()} "
            f"({rows.where()}); rebuild it from the current index"
        )


def load_embeddings(path, rows: Rows, modalities: Sequence[str] = ("image", "text")) -> dict:
    """One chunk's embeddings in the declared modalities: ``{"uid", "image"?, "text"?}``, uids checked."""
    from clipcurate.embed.encode import read_embeddings

    if not isinstance(path, (str, Path)):
        paths = list(path)
        if len(paths) != 1:
            raise fileio.ContractError(f"{len(paths)} embedding files given for {rows.where()}; a chunk reads one")
        path = paths[0]
    out = read_embeddings(path, columns=tuple(modalities))
    _check_uids(str(path), out["uid"], rows)
    return out


class _Modalities:
    """The read-only mapping protocol of lazily read embeddings: keys ``uid`` and the declared
    ``modalities`` (subclasses set ``self.modalities`` and define ``__getitem__``)."""

    modalities: tuple = ()

    def __contains__(self, key) -> bool:
        return key == "uid" or key in self.modalities

    def keys(self):
        return ("uid", *self.modalities)

    def __iter__(self):
        return iter(self.keys())


class ChunkEmbeddings(_Modalities):
    """One chunk's embeddings for a staged method, read lazily so that a job holds a batch of rows,
    not the chunk (at xlarge a chunk is 25M rows: 77 GB of 768-d float32 images).

    ``emb["uid"]``, ``emb["image"]`` read the whole column (convenient for small chunks);
    :meth:`batches` yields ``(lo, hi, {modality: float32[hi - lo, d]})`` over the chunk's rows and
    :meth:`take` reads given rows of one modality, each reading only the parquet row groups it needs.
    Uids are compared with the index's rows as each row group is first read.
    """

    def __init__(self, path, rows: Rows, modalities: Sequence[str] = ("image", "text")):
        self.path, self.rows, self.modalities = Path(path), rows, tuple(modalities)
        self.pf = fileio.open_parquet(self.path, "embedding file")
        names = self.pf.schema_arrow.names
        missing = [c for c in ("uid", *self.modalities) if c not in names]
        if missing:
            raise fileio.ContractError(f"{self.path}: embedding file has no column {missing[0]!r}; it has {names}")
        if self.pf.metadata.num_rows != len(rows):
            raise fileio.ContractError(f"{self.path}: {self.pf.metadata.num_rows} rows, but {rows.where()} of the index has {len(rows)}")
        sizes = [self.pf.metadata.row_group(i).num_rows for i in range(self.pf.metadata.num_row_groups)]
        self.starts = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        self._checked: set[int] = set()
        self._cache: dict = {}

    def __len__(self) -> int:
        return len(self.rows)

    def _group(self, rg: int, columns) -> pa.Table:
        t = self.pf.read_row_group(rg, columns=["uid", *columns])
        if rg not in self._checked:
            lo = int(self.starts[rg])
            sub = Rows.__new__(Rows)
            sub.chunk, sub._table = self.rows.chunk, self.rows.table.slice(lo, t.num_rows)
            _check_uids(f"{self.path} (rows {lo}..{lo + t.num_rows - 1})", t.column("uid"), sub)
            self._checked.add(rg)
        return t

    @staticmethod
    def _array(col) -> np.ndarray:
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size).astype(np.float32, copy=False)

    def __getitem__(self, key):
        if key not in self:
            raise KeyError(f"{key!r}: the method declares modalities {list(self.modalities)}")
        if key not in self._cache:
            parts = [self._group(rg, [] if key == "uid" else [key]) for rg in range(len(self.starts) - 1)]
            if key == "uid":
                self._cache[key] = pa.chunked_array([c for t in parts for c in t.column("uid").chunks], pa.string())
            else:
                self._cache[key] = (np.concatenate([self._array(t.column(key)) for t in parts]) if len(parts) > 1
                                    else self._array(parts[0].column(key)) if parts else np.zeros((0, 0), np.float32))
        return self._cache[key]

    def batches(self):
        """``(lo, hi, {modality: array})`` per parquet row group (2^20 rows as the workflow writes them)."""
        for rg in range(len(self.starts) - 1):
            t = self._group(rg, self.modalities)
            yield int(self.starts[rg]), int(self.starts[rg + 1]), {m: self._array(t.column(m)) for m in self.modalities}

    def take(self, index, modality: str = "image") -> np.ndarray:
        """Rows ``index`` (chunk positions; any order, repeats allowed) of one modality."""
        if modality not in self.modalities:
            raise KeyError(f"{modality!r}: the method declares modalities {list(self.modalities)}")
        index = np.asarray(index, dtype=np.int64)
        out = None
        for rg in range(len(self.starts) - 1):
            lo, hi = self.starts[rg], self.starts[rg + 1]
            sel = np.flatnonzero((index >= lo) & (index < hi))
            if not sel.size:
                continue
            values = self._array(self._group(rg, [modality]).column(modality))
            if out is None:
                out = np.empty((len(index), values.shape[1]), np.float32)
            out[sel] = values[index[sel] - lo]
        if out is None:
            d = self.pf.schema_arrow.field(modality).type.list_size
            out = np.empty((len(index), d), np.float32)
        return out


class EmbeddingChunks:
    """A pool-level method's embeddings: iterate to get each chunk's ``{"uid", <modalities>}`` in
    pool order, one file read at a time (uids checked against the index's rows as they come).
    ``len()`` is the number of chunks. Nothing is concatenated: a method that needs all rows at once
    is a staged method (:mod:`clipcurate.scores.stages`)."""

    def __init__(self, paths: Sequence, index_path, modalities: Sequence[str] = ("image", "text"), text_paths=None):
        self.paths = [Path(p) for p in paths]
        self.index_path = index_path
        self.modalities = tuple(modalities)
        # an image variant: its files hold image vectors only, the text comes from the plain files
        self.text_paths = None if text_paths is None else [Path(p) for p in text_paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self):
        from clipcurate.embed.encode import read_embeddings

        offset = 0
        for i, p in enumerate(self.paths):
            if self.text_paths is not None and "text" in self.modalities:
                out = read_embeddings(p, columns=tuple(m for m in self.modalities if m != "text"))
                text = read_embeddings(self.text_paths[i], columns=("text",))
                if not text["uid"].equals(out["uid"]):
                    raise fileio.ContractError(f"{self.text_paths[i]}: its uids are not those of {p}; rebuild both from the current index")
                out["text"] = text["text"]
            else:
                out = read_embeddings(p, columns=self.modalities)
            uids = out["uid"]
            ref = read_rows(self.index_path, "uid", offset, len(uids))
            if len(ref) != len(uids) or not pc.all(pc.equal(uids.cast(pa.string()), pa.array(ref, pa.string()))).as_py():
                raise fileio.ContractError(f"{p}: its uids are not the pool index's rows {offset}..{offset + len(uids) - 1}; "
                                           "rebuild it from the current index")
            offset += len(uids)
            yield out
        if offset != poolindex.index_num_rows(self.index_path):
            raise fileio.ContractError(f"{self.paths[0]} ..: the embedding files hold {offset} rows, the pool index "
                                       f"{poolindex.index_num_rows(self.index_path)}")


def load_variant_embeddings(path, text_path, rows: Rows, modalities: Sequence[str] = ("image", "text")) -> dict:
    """An image variant's image vectors with the plain embeddings' text vectors (a variant embeds
    only images); both are checked against the rows' uids, so they are row-aligned."""
    out = load_embeddings(path, rows, [m for m in modalities if m != "text"])
    if "text" in modalities:
        out["text"] = load_embeddings(text_path, rows, ("text",))["text"]
    return out


class PairedChunkEmbeddings(_Modalities):
    """:class:`ChunkEmbeddings` of an image variant: image rows from the variant's file, text rows
    from the plain file (each read lazily, uids checked in both)."""

    def __init__(self, path, text_path, rows: Rows, modalities: Sequence[str] = ("image", "text")):
        self.modalities = tuple(modalities)
        self.parts = {"image": ChunkEmbeddings(path, rows, ("image",))} if "image" in modalities else {}
        if "text" in modalities:
            self.parts["text"] = ChunkEmbeddings(text_path, rows, ("text",))
        self._first = next(iter(self.parts.values()))

    def __len__(self) -> int:
        return len(self._first)

    def __getitem__(self, key):
        if key == "uid":
            return self._first["uid"]
        if key not in self.parts:
            raise KeyError(f"{key!r}: the method declares modalities {list(self.modalities)}")
        return self.parts[key][key]

    def batches(self):
        its = {m: part.batches() for m, part in self.parts.items()}
        for items in zip(*its.values()):
            lo, hi = items[0][0], items[0][1]
            if any((a, b) != (lo, hi) for a, b, _ in items):
                raise fileio.ContractError("a variant's image file and the plain text file have different row groups")
            yield lo, hi, {m: d[m] for m, (_, _, d) in zip(its, items)}

    def take(self, index, modality: str = "image") -> np.ndarray:
        if modality not in self.parts:
            raise KeyError(f"{modality!r}: the method declares modalities {list(self.modalities)}")
        return self.parts[modality].take(index, modality)


def load_metadata(shards_dir, columns: Sequence[str], rows: Rows) -> pa.Table:
    """The requested metadata columns of the rows, from the download's per-shard parquet files."""
    from clipcurate.pool.download import SHARD_DIGITS

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
            raise fileio.ContractError(f"{path}: the download's metadata of shard {shard} not found")
        available = pq.read_schema(path).names
        source = [METADATA_SOURCE_NAMES.get(c, c) for c in columns]
        missing = [c for c, s in zip(columns, source) if s not in available]
        if missing:
            raise fileio.ContractError(
                f"{path}: no metadata column(s) {missing} (it has {available}); add them to the download's "
                "save_additional_columns"
            )
        t = pq.read_table(path, columns=sorted({"key", *source}))
        if "face_bboxes" in source:  # each row a list of [x0, y0, x1, y1]: a bad one names file, row, column
            from clipcurate.pool import metadata_check

            metadata_check.check_table(path, t.select(["face_bboxes"]), bbox_col="face_bboxes")
        pos = pc.index_in(keys[lo:hi], value_set=t.column("key").cast(pa.string()).combine_chunks())
        if pos.null_count:
            k = keys[lo + int(pc.index(pc.is_null(pos), True).as_py())].as_py()
            raise fileio.ContractError(f"{path}: sample key {k} of the index is not in the shard's metadata")
        t = t.take(pos)
        parts.append(pa.table({c: t.column(s) for c, s in zip(columns, source)}))
    if not parts:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(parts).combine_chunks()


def load_reference(path, modalities: Sequence[str] = ("image", "text")) -> dict:
    """A reference set's embeddings in the declared modalities, and its labels (None if unlabelled)."""
    from clipcurate.embed.encode import read_embeddings

    path = Path(path)
    emb = read_embeddings(path, columns=tuple(modalities))
    label = None
    if "label" in pq.read_schema(path).names:
        col = pq.read_table(path, columns=["label"]).column("label")
        if col.null_count == 0:
            label = col.to_numpy().astype(np.int64)
    return {**{m: emb[m] for m in modalities}, "label": label}


def load_scores(refs, index_path, rows: Rows) -> dict:
    """Score columns of the rows: pool files are checked against the index (by fingerprint when they
    carry it), then a chunk reads only its rows, checked to be null-free and finite."""
    out, cache = {}, {}
    for label, path, column in refs:
        if (path, column) not in cache:
            if rows.chunk is None:
                values = scorefiles.read_scores(path, index_path, [column])[column]
            else:
                if not Path(path).exists():
                    raise fileio.ContractError(f"{path}: score file not found")
                alignment.check_alignment(path, index_path)
                if column not in scorefiles.score_columns(path):
                    raise fileio.ContractError(f"{path}: no column {column!r}; it has {scorefiles.score_columns(path)}")
                values = read_rows(path, column, rows.offset, len(rows))
                if values.dtype == object or (values.dtype != np.bool_ and not np.isfinite(values).all()):
                    raise fileio.ContractError(f"{path}: column {column!r} has a null or non-finite value in {rows.where()}")
            cache[(path, column)] = values
        out[label] = cache[(path, column)]
    return out


def load_truth(world_dir, rows: Rows) -> pa.Table:
    path = Path(world_dir) / "truth.parquet"
    if not path.exists():
        raise fileio.ContractError(f"{path}: ground truth not found (only the tiny world has one)")
    truth = pq.read_table(path)
    pos = pc.index_in(rows.uids, value_set=truth.column("uid").combine_chunks())
    if pos.null_count:
        first = rows.uids[int(pc.index(pc.is_null(pos), True).as_py())].as_py()
        raise fileio.ContractError(f"{path}: {pos.null_count} pool uids have no ground-truth row, e.g. {first}")
    return truth.take(pos)


def load_inputs(plan: ScorePlan, files: Mapping[str, Any], rows: Rows, only: Sequence[str] | None = None,
                lazy: bool = False) -> dict:
    """Every declared input of the plan (or those named in ``only``), loaded row-aligned with ``rows``;
    with ``lazy`` (a staged method's per-chunk stages) a chunk's embeddings are :class:`ChunkEmbeddings`."""
    loaded = {}
    for arg, spec in plan.inputs.items():
        if only is not None and arg not in only:
            continue
        kind, f = spec["kind"], files[arg]
        if kind == "embeddings":
            modalities = spec.get("modalities", ("image", "text"))
            variant = spec.get("variant", "plain") != "plain"
            text_f = files.get(text_input(arg)) if variant else None
            if rows.chunk is None:
                loaded[arg] = EmbeddingChunks([f] if isinstance(f, (str, Path)) else f, files["index"], modalities,
                                              text_paths=None if text_f is None else ([text_f] if isinstance(text_f, (str, Path)) else text_f))
            elif lazy:
                one = f if isinstance(f, (str, Path)) else list(f)[0]
                if variant:
                    text_one = None if text_f is None else (text_f if isinstance(text_f, (str, Path)) else list(text_f)[0])
                    loaded[arg] = PairedChunkEmbeddings(one, text_one, rows, modalities)
                else:
                    loaded[arg] = ChunkEmbeddings(one, rows, modalities)
            elif variant:
                loaded[arg] = load_variant_embeddings(f, text_f, rows, modalities)
            else:
                loaded[arg] = load_embeddings(f, rows, modalities)
        elif kind == "metadata":
            loaded[arg] = load_metadata(f, spec["columns"], rows)
        elif kind == "images":
            from clipcurate.scores.images import ChunkImages

            loaded[arg] = ChunkImages(f, rows)
        elif kind == "reference":
            loaded[arg] = load_reference(f, spec.get("modalities", ("image", "text")))
        elif kind == "reference_images":
            from clipcurate.scores.images import ReferenceImages

            loaded[arg] = ReferenceImages(spec["dir"])
        elif kind == "artifact":
            loaded[arg] = str(f)
        elif kind == "scores":
            loaded[arg] = load_scores(spec["refs"], files["index"], rows)
        elif kind == "truth":
            loaded[arg] = load_truth(f, rows)
        else:
            raise fileio.ContractError(f"score {plan.name}: unknown input kind {kind!r}")
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
            values = scorefiles.check_counts(values, f"{where}: column 'count'")
        else:
            values = values.astype(np.float32, copy=False)
            finite = np.isfinite(values)
            if not finite.all():
                row = int(np.argmin(finite))
                raise ValueError(f"{where}: column {name!r} has a non-finite value ({values[row]}) at row {row}")
        out[name] = values
    return out


def run_score(plan, files: Mapping[str, Any], out_path, chunk: int | None = None, report_path=None, threads: int = 1) -> int:
    """Compute a score over one chunk (``chunk`` given) or the whole pool and write its file.

    ``plan`` is a :class:`~clipcurate.scores.plan.ScorePlan` or its dict form (the rule's params);
    ``files`` the rule's inputs (:func:`clipcurate.scores.plan.score_files`). A chunk file carries no
    fingerprint (:func:`gather` checks it); a pool file carries the index's. A method declared with
    ``report=True`` returns a ``report`` dict too, written to ``report_path`` and logged. A staged
    method's chunk goes to :func:`clipcurate.scores.stages.run_apply` (``threads``: the job's).
    """
    plan = _as_plan(plan)
    m = get(plan.method)
    if m.stages is not None:
        from clipcurate.scores.stages import run_apply

        if chunk is None:
            raise ValueError(f"score {plan.name}: method {plan.method} is staged; it applies per chunk")
        return run_apply(plan, files, out_path, chunk, threads=threads)
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
        fileio.write_json(dict(report), report_path)
        log.info("%s report: %s", plan.name, report)
    cols = check_outputs(plan, cols, len(rows))
    fp = None if chunk is not None else poolindex.index_fingerprint(files["index"])
    scorefiles.write_scores(out_path, rows.uids, cols, fingerprint=fp)
    return len(rows)


def gather(chunk_paths: Sequence, index_path, out_path) -> int:
    """Concatenate per-chunk score files in chunk order into one pool-wide, index-aligned file,
    streamed chunk by chunk (:func:`clipcurate.scores.groups.gather`): its memory is one chunk."""
    from clipcurate.scores.groups import gather as stream

    return stream(chunk_paths, (), index_path, out_path)
