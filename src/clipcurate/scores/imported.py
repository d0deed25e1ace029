"""Scores from outside: published uid lists and per-sample score files, aligned to the pool by uid.

Two methods, each one config entry whose ``file`` is the external file (an input of the job, so a
changed file reruns the import):

* ``import_subset``: a published subset, DataComp's ``.npy`` of ``u8,u8`` uids (sorted; a repeated
  uid means a repeated sample) or a parquet with a ``uid`` column. Output ``keep`` (the pool sample
  is in the subset), ``count`` (how many times it is listed: 1 for DataComp's unique lists, 0 when
  absent) and ``score`` (the same number as a float), so a recipe can take the subset as is, once
  each (``sample: {method: keep}``) or with its repetitions (``sample: {method: counts}``), and a
  table can show it as a row.
* ``import_scores``: a parquet with ``uid`` and a score column (``params.column``, default
  ``score``; DataComp's metadata columns such as ``clip_l14_similarity_score`` work too). Output
  ``score`` (the imported value) and ``keep`` (the pool sample has a value). Pool samples without a
  value get ``params.fill``: ``min`` (the lowest imported value, the default), or a number; a
  uid listed twice is refused, since its score would be ambiguous.

Both write a coverage report (``results/scores/<name>.report.json``, also in the log): the source's
rows and distinct uids, how many pool uids were matched, how many pool uids it lacks, and how many of
its uids are not in the pool (e.g. samples that failed to download), with examples.

Matching works on DataComp's 128-bit integer form of the uid (two uint64 per uid, 16 bytes instead of
a 32-character string), with a lexsort of the source and binary searches of the pool, so a 128M-row
pool and source fit in a few GB (``benchmarks/bench_import.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate import io
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Metadata

EXAMPLES = 5


def read_uid_pairs(path) -> np.ndarray:
    """uids of an external file as ``u8,u8`` pairs: DataComp ``.npy`` or a parquet ``uid`` column."""
    path = Path(path)
    if not path.exists():
        raise io.ContractError(f"{path}: file to import not found")
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        if arr.dtype.names and len(arr.dtype.names) == 2:
            out = np.empty(len(arr), io.SUBSET_DTYPE)
            out["f0"], out["f1"] = arr[arr.dtype.names[0]], arr[arr.dtype.names[1]]
            return out
        if arr.ndim == 2 and arr.shape[1] == 2 and arr.dtype.kind == "u":
            out = np.empty(len(arr), io.SUBSET_DTYPE)
            out["f0"], out["f1"] = arr[:, 0], arr[:, 1]
            return out
        raise io.ContractError(f"{path}: expected DataComp's subset format (structured u8,u8 uids), got dtype {arr.dtype} shape {arr.shape}")
    if path.suffix == ".parquet":
        if "uid" not in pq.read_schema(path).names:
            raise io.ContractError(f"{path}: no 'uid' column")
        uids = pq.read_table(path, columns=["uid"]).column("uid")
        if uids.null_count:
            row = int(pc.index(pc.is_null(uids), True).as_py())
            raise io.ContractError(f"{path}: uid is missing (null) at row {row}")
        try:
            return io.uids_to_pairs(uids)
        except io.ContractError as e:
            raise io.ContractError(f"{path}: {e}") from None
    raise io.ContractError(f"{path}: cannot import a {path.suffix or 'suffix-less'} file; expected .npy (DataComp subset) or .parquet")


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
    return io.pairs_to_uids(pairs[:EXAMPLES])


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
    return io.uids_to_pairs(meta.column("uid"))


@register("import_subset", level="pool", inputs={"pool": Metadata(columns=("uid",)), "file": Artifact("{file}")},
          outputs=("score", "keep", "count"), report=True)
def import_subset(params, pool, file):
    """keep = the pool sample is in the published subset; score and count = how often it is listed."""
    src = read_uid_pairs(file)
    distinct, counts = unique_pairs(src)
    pool_pairs = _pool_pairs(pool)
    pos = match(pool_pairs, distinct)
    keep = pos >= 0
    count = np.where(keep, counts[np.maximum(pos, 0)], 0)
    return {"score": count.astype(np.float32), "keep": keep, "count": count,
            "report": coverage(file, pool_pairs, distinct, pos, len(src))}


@register("import_scores", level="pool", inputs={"pool": Metadata(columns=("uid",)), "file": Artifact("{file}")},
          outputs=("score", "keep"), defaults={"column": "score", "fill": "min"}, report=True)
def import_scores(params, pool, file):
    """score = the imported value of the pool sample's uid (``fill`` where it has none); keep = it has one."""
    path, column, fill = Path(file), params["column"], params["fill"]
    if path.suffix != ".parquet":
        raise io.ContractError(f"{path}: import_scores reads a parquet with uid and {column!r}; use import_subset for uid lists")
    names = pq.read_schema(path).names
    if column not in names:
        raise io.ContractError(f"{path}: no column {column!r} (params.column); it has {names}")
    src = read_uid_pairs(path)
    values = pq.read_table(path, columns=[column]).column(column)
    if values.null_count:
        raise io.ContractError(f"{path}: column {column!r} is null at row {int(pc.index(pc.is_null(values), True).as_py())}")
    values = values.to_numpy().astype(np.float64)
    if not np.isfinite(values).all():
        row = int(np.argmin(np.isfinite(values)))
        raise io.ContractError(f"{path}: column {column!r} has a non-finite value ({values[row]}) at row {row}")
    order, distinct = sorted_pairs(src)
    dup = np.flatnonzero(~_firsts(distinct))
    if dup.size:
        same = (distinct["f0"] == distinct["f0"][dup[0]]) & (distinct["f1"] == distinct["f1"][dup[0]])
        raise io.ContractError(f"{path}: uid {io.pairs_to_uids(distinct[dup[:1]])[0]} is listed {int(same.sum())} times; a score file lists each uid once")
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
    return {"score": score, "keep": keep, "report": report}
