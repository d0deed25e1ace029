"""Scores from outside: published uid lists and per-sample score files, aligned to the pool by uid.

Two methods, each one config entry whose ``file`` is the external file (an input of the job, so a
changed file reruns the import):

* ``import_subset``: a published subset, DataComp's ``.npy`` of ``u8,u8`` uids (a 1-D structured
  array of two unsigned 64-bit fields, high and low half of the 128-bit uid; sorted) or a parquet
  with a string ``uid`` column (32 hex characters). Any other ``.npy`` (``f8,f8``, a 2-D array, ...)
  is refused with the dtype found. Output ``keep`` (the pool sample is in the subset), ``count`` (how
  many times it is listed: 1 for DataComp's unique lists, 0 when absent) and ``score`` (the same
  number as a float), so a recipe can take the subset as is, once each (``sample: {method: keep}``)
  or with its repetitions (``sample: {method: counts}``), and a table can show it as a row.
  A list that repeats uids (a subset with repetitions, such as one this workflow wrote) is refused
  with the numbers by default (``params.repeats: refuse``), since a ``keep`` recipe would silently
  take each listed sample once; ``repeats: count`` imports it, for a ``counts`` recipe.
* ``import_scores``: a parquet with ``uid`` and a numeric score column (``params.column``, default
  ``score``; DataComp's metadata columns such as ``clip_l14_similarity_score`` work too). Output
  ``score`` (the imported value) and ``keep`` (the pool sample has a value). Pool samples without a
  value get ``params.fill``: ``min`` (the lowest imported value, the default), or a number; a
  uid listed twice is refused, since its score would be ambiguous.

Both refuse a file that covers too little (``params.min_coverage``, default
:data:`MIN_COVERAGE` = 0.5; 0 turns the check off), since a file of another pool or scale would
otherwise import silently as "nothing matched" (every score the fill value, an empty subset):

* ``import_subset``: the fraction of the file's distinct uids found in the pool. A DataComp subset
  of the pool downloaded here is mostly in it (its misses are the samples whose download failed);
* ``import_scores``: the fraction of pool samples that get a value. DataComp's metadata scores
  every sample of its pool.

Both write a coverage report (``results/scores/<name>.report.json``, also in the log): the source's
rows and distinct uids, how many pool uids were matched, how many pool uids it lacks, and how many of
its uids are not in the pool (e.g. samples that failed to download), with examples.

The file's form (``.npy`` header, parquet schema: columns and their types) is checked when the
workflow is planned (:func:`check_file`, the methods' ``check``), so a wrong dtype or a missing column
stops the run before any job; its content (uids, values, coverage) when the job reads it. Every
error names the file.

Matching works on DataComp's 128-bit integer form of the uid (two uint64 per uid, 16 bytes instead of
a 32-character string), with a lexsort of the source and binary searches of the pool, so a 128M-row
pool and source fit in a few GB (``benchmarks/bench_import.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clipcurate.core import fileio, uidcodec
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Metadata

EXAMPLES = 5
#: default ``params.min_coverage`` of both imports (see the module docstring)
MIN_COVERAGE = 0.5
#: ``import_subset``'s ``params.repeats``
REPEATS = ("refuse", "count")


def npy_header(path) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of a ``.npy`` file from its header alone (cheap at any size); an empty file,
    a file that is not ``.npy`` or one whose data is shorter than its header says is an error
    naming the file."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise fileio.ContractError(f"{path}: file to import is empty (0 bytes); expected DataComp's .npy of u8,u8 uids")
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
        except (ValueError, EOFError, SyntaxError) as e:
            raise fileio.ContractError(f"{path}: not a readable .npy file ({e}); expected DataComp's .npy of u8,u8 uids") from None
        if dtype.hasobject:
            raise fileio.ContractError(f"{path}: .npy holds Python objects (dtype {dtype}); expected DataComp's u8,u8 uids")
        need = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size < need:
        raise fileio.ContractError(
            f"{path}: .npy is truncated: its header says shape {shape} of dtype {dtype} ({need} bytes), the file has {size} bytes"
        )
    return shape, dtype


def check_uid_dtype(path, shape: tuple, dtype: np.dtype) -> None:
    """DataComp's subset form only: a 1-D array of a structured dtype of two unsigned 64-bit fields."""
    fields = dtype.names or ()
    ok = (len(fields) == 2 and len(shape) == 1
          and all(dtype.fields[f][0].kind == "u" and dtype.fields[f][0].itemsize == 8 for f in fields))
    if not ok:
        raise fileio.ContractError(
            f"{path}: expected DataComp's subset format, a 1-D .npy of structured dtype u8,u8 (the uid's two 64-bit "
            f"halves); found dtype {dtype.str if not fields else dtype.descr} shape {shape}"
        )


def _parquet_schema(path, what="file to import") -> pa.Schema:
    return fileio.open_parquet(path, what).schema_arrow


def check_file(path, method: str, column: str = "score") -> None:
    """The import's file, from its header or schema only: the suffix, DataComp's ``u8,u8`` dtype of
    a ``.npy``, a parquet's ``uid`` (string) column and, for ``import_scores``, its numeric score
    ``column``. Run when the workflow is planned and again by the job; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise fileio.ContractError(f"{path}: file to import not found")
    if method == "import_scores" and path.suffix != ".parquet":
        raise fileio.ContractError(f"{path}: import_scores reads a parquet with uid and {column!r}; use import_subset for uid lists")
    if path.suffix == ".npy":
        check_uid_dtype(path, *npy_header(path))
        return
    if path.suffix != ".parquet":
        raise fileio.ContractError(f"{path}: cannot import a {path.suffix or 'suffix-less'} file; expected .npy (DataComp subset) or .parquet")
    schema = _parquet_schema(path)
    if "uid" not in schema.names:
        raise fileio.ContractError(f"{path}: no 'uid' column; it has {schema.names}")
    if not (pa.types.is_string(schema.field("uid").type) or pa.types.is_large_string(schema.field("uid").type)):
        raise fileio.ContractError(f"{path}: column 'uid' has type {schema.field('uid').type}; expected strings of 32 hex characters")
    if method == "import_scores":
        if column not in schema.names:
            raise fileio.ContractError(f"{path}: no column {column!r} (params.column); it has {schema.names}")
        typ = schema.field(column).type
        if not (pa.types.is_integer(typ) or pa.types.is_floating(typ)):
            raise fileio.ContractError(f"{path}: column {column!r} has type {typ}; expected a numeric (integer or float) score column")


def read_uid_pairs(path) -> np.ndarray:
    """uids of an external file as ``u8,u8`` pairs: DataComp ``.npy`` or a parquet ``uid`` column."""
    path = Path(path)
    check_file(path, "import_subset")
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, EOFError, OSError) as e:
            raise fileio.ContractError(f"{path}: not a readable .npy file ({e})") from None
        out = np.empty(len(arr), uidcodec.SUBSET_DTYPE)
        out["f0"], out["f1"] = arr[arr.dtype.names[0]], arr[arr.dtype.names[1]]
        return out
    uids = fileio.read_parquet(path, ["uid"], "file to import").column("uid")
    if uids.null_count:
        row = int(pc.index(pc.is_null(uids), True).as_py())
        raise fileio.ContractError(f"{path}: uid is missing (null) at row {row}")
    try:
        return uidcodec.uids_to_pairs(uids)
    except fileio.ContractError as e:
        raise fileio.ContractError(f"{path}: {e}") from None


def _min_coverage(params) -> float:
    m = params.get("min_coverage", MIN_COVERAGE)
    if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m <= 1:
        raise ValueError(f"params.min_coverage must be a number in [0, 1], got {m!r}")
    return float(m)


def _check_entry(entry, config, key):
    """Planning-time check of an import entry: its parameters, and its file's form where the file
    is already there (a file that does not exist yet is Snakemake's missing input)."""
    params = entry.get("params") or {}
    try:
        _min_coverage(params)
    except ValueError as e:
        raise ValueError(f"config: {key}.{e}") from None
    method = entry["method"]
    if method == "import_subset" and params.get("repeats", "refuse") not in REPEATS:
        raise ValueError(f"config: {key}.params.repeats: expected one of {list(REPEATS)}, got {params['repeats']!r}")
    path = entry.get("file")
    if isinstance(path, str) and Path(path).exists():
        try:
            check_file(path, method, params.get("column", "score"))
        except fileio.ContractError as e:
            raise ValueError(f"config: {key}.file: {e}") from None


def sorted_pairs(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The order sorting ``u8,u8`` uids by (high, low), and the sorted uids.

    An argsort of the high halves, then a lexsort of only the rows whose high halves tie (repeated
    uids, or a 64-bit collision): far faster than sorting the structured array or a full lexsort.
    """
    order = np.argsort(pairs["f0"], kind="stable")
    f0 = pairs["f0"][order]
    tie = np.zeros(len(order), bool)
    same = f0[1:] == f0[:-1]
    tie[1:] |= same
    tie[:-1] |= same
    idx = np.flatnonzero(tie)
    if idx.size:  # rows of tie runs stay in their (contiguous) runs; sort them by (high, low)
        sub = order[idx]
        order[idx] = sub[np.lexsort((pairs["f1"][sub], pairs["f0"][sub]))]
    return order, pairs[order]


def _firsts(s: np.ndarray) -> np.ndarray:
    new = np.ones(len(s), bool)
    new[1:] = (s["f0"][1:] != s["f0"][:-1]) | (s["f1"][1:] != s["f1"][:-1])
    return new


def unique_pairs(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct uids, sorted, and how many times each is listed."""
    _, s = sorted_pairs(pairs)
    starts = np.flatnonzero(_firsts(s))
    return s[starts], np.diff(np.r_[starts, len(s)])


def match(pool: np.ndarray, source_sorted: np.ndarray) -> np.ndarray:
    """For each pool uid, its position in the sorted, distinct ``source_sorted`` uids, or -1.

    The pool is sorted first, so the binary searches walk the source in order (random-order searches
    are cache-bound: ~15x slower at 1M rows).
    """
    n, m = len(pool), len(source_sorted)
    pos = np.full(n, -1, np.int64)
    if m == 0 or n == 0:
        return pos
    f0, f1 = source_sorted["f0"], source_sorted["f1"]
    qo = np.argsort(pool["f0"], kind="stable")
    q0, q1 = pool["f0"][qo], pool["f1"][qo]
    lo = np.searchsorted(f0, q0, side="left")
    at = np.minimum(lo, m - 1)
    hit = (lo < m) & (f0[at] == q0)
    nxt = np.minimum(lo + 1, m - 1)
    multi = hit & (lo + 1 < m) & (f0[nxt] == q0)  # equal high halves in the source: a 64-bit collision
    found = np.where(hit & ~multi & (f1[at] == q1), lo, -1)
    for i in np.flatnonzero(multi):
        hi = np.searchsorted(f0, q0[i], side="right")
        j = np.flatnonzero(f1[lo[i] : hi] == q1[i])
        if j.size:
            found[i] = lo[i] + j[0]
    pos[qo] = found
    return pos


def _examples(pairs: np.ndarray) -> list[str]:
    return uidcodec.pairs_to_uids(pairs[:EXAMPLES])


def coverage(path, pool_pairs: np.ndarray, distinct: np.ndarray, pos: np.ndarray, source_rows: int) -> dict:
    matched = pos >= 0
    in_pool = np.zeros(len(distinct), bool)
    in_pool[pos[matched]] = True
    return {
        "source": str(path),
        "source_rows": int(source_rows),
        "source_distinct_uids": int(len(distinct)),
        "pool_rows": int(len(pool_pairs)),
        "pool_matched": int(matched.sum()),
        "pool_unmatched": int((~matched).sum()),
        "pool_matched_fraction": float(matched.mean()) if len(pool_pairs) else 0.0,
        "source_not_in_pool": int((~in_pool).sum()),
        "examples_pool_unmatched": _examples(pool_pairs[~matched]),
        "examples_source_not_in_pool": _examples(distinct[~in_pool]),
    }


def _pool_pairs(meta) -> np.ndarray:
    return uidcodec.uids_to_pairs(meta.column("uid"))


def _check_coverage(path, report: dict, min_coverage: float, of_source: bool) -> None:
    """Refuse an import below ``min_coverage``: of the file's distinct uids found in the pool
    (``of_source``, a subset) or of the pool's samples that get a value (a score file)."""
    if of_source:
        have, total = report["source_distinct_uids"] - report["source_not_in_pool"], report["source_distinct_uids"]
        what = f"of the file's {total} distinct uids are in the pool"
        examples = report["examples_source_not_in_pool"]
    else:
        have, total = report["pool_matched"], report["pool_rows"]
        what = f"of the pool's {total} samples have a value in the file"
        examples = report["examples_pool_unmatched"]
    fraction = have / total if total else 0.0
    if fraction < min_coverage or total == 0:
        raise fileio.ContractError(
            f"{path}: only {have} {what} ({fraction:.1%}), below params.min_coverage = {min_coverage:g}; "
            f"expected a file of this pool (not of another pool or scale). "
            f"Not matched, e.g. {examples[:3]}. Pool rows {report['pool_rows']}, file rows {report['source_rows']}, "
            f"matched pool rows {report['pool_matched']}"
        )


@register("import_subset", level="pool", inputs={"pool": Metadata(columns=("uid",)), "file": Artifact("{file}")},
          outputs=("score", "keep", "count"), defaults={"min_coverage": MIN_COVERAGE, "repeats": "refuse"},
          check=_check_entry, report=True)
def import_subset(params, pool, file):
    """keep = the pool sample is in the published subset; score and count = how often it is listed."""
    src = read_uid_pairs(file)
    if len(src) == 0:
        raise fileio.ContractError(f"{file}: the uid list has 0 rows; expected the subset's uids")
    distinct, counts = unique_pairs(src)
    repeated = counts > 1
    if repeated.any() and params.get("repeats", "refuse") != "count":
        raise fileio.ContractError(
            f"{file}: {int(repeated.sum())} of its {len(distinct)} distinct uids are listed more than once "
            f"({len(src) - len(distinct)} extra rows of {len(src)}; up to {int(counts.max())} times, e.g. uid "
            f"{uidcodec.pairs_to_uids(distinct[repeated][:1])[0]}); 'sample: {{method: keep}}' takes each listed sample once "
            "and would lose the repeats. Set params.repeats: count to import them (count = times listed; sample them with {method: counts})"
        )
    pool_pairs = _pool_pairs(pool)
    pos = match(pool_pairs, distinct)
    keep = pos >= 0
    count = np.where(keep, counts[np.maximum(pos, 0)], 0)
    report = coverage(file, pool_pairs, distinct, pos, len(src))
    report.update({"repeated_uids": int(repeated.sum()), "max_times_listed": int(counts.max())})
    _check_coverage(file, report, _min_coverage(params), of_source=True)
    return {"score": count.astype(np.float32), "keep": keep, "count": count, "report": report}


@register("import_scores", level="pool", inputs={"pool": Metadata(columns=("uid",)), "file": Artifact("{file}")},
          outputs=("score", "keep"), defaults={"column": "score", "fill": "min", "min_coverage": MIN_COVERAGE},
          check=_check_entry, report=True)
def import_scores(params, pool, file):
    """score = the imported value of the pool sample's uid (``fill`` where it has none); keep = it has one."""
    path, column, fill = Path(file), params["column"], params["fill"]
    check_file(path, "import_scores", column)
    src = read_uid_pairs(path)
    if len(src) == 0:
        raise fileio.ContractError(f"{path}: the score file has 0 rows; expected a uid and a {column!r} value per sample")
    values = fileio.read_parquet(path, [column], "file to import").column(column)
    if values.null_count:
        raise fileio.ContractError(f"{path}: column {column!r} is null at row {int(pc.index(pc.is_null(values), True).as_py())}")
    values = values.to_numpy().astype(np.float64)
    if not np.isfinite(values).all():
        row = int(np.argmin(np.isfinite(values)))
        raise fileio.ContractError(f"{path}: column {column!r} has a non-finite value ({values[row]}) at row {row}")
    order, distinct = sorted_pairs(src)
    dup = np.flatnonzero(~_firsts(distinct))
    if dup.size:
        same = (distinct["f0"] == distinct["f0"][dup[0]]) & (distinct["f1"] == distinct["f1"][dup[0]])
        raise fileio.ContractError(f"{path}: uid {uidcodec.pairs_to_uids(distinct[dup[:1]])[0]} is listed {int(same.sum())} times; a score file lists each uid once")
    pool_pairs = _pool_pairs(pool)
    pos = match(pool_pairs, distinct)
    keep = pos >= 0
    if fill == "min":
        fill_value = float(values.min()) if len(values) else 0.0
    elif isinstance(fill, (int, float)) and not isinstance(fill, bool) and np.isfinite(fill):
        fill_value = float(fill)
    else:
        raise ValueError(f"import_scores: params.fill must be 'min' or a finite number, got {fill!r}")
    score = np.where(keep, values[order][np.maximum(pos, 0)], fill_value).astype(np.float32)
    report = coverage(file, pool_pairs, distinct, pos, len(src))
    report.update({"column": column, "fill": fill_value})
    _check_coverage(path, report, _min_coverage(params), of_source=False)
    return {"score": score, "keep": keep, "report": report}
