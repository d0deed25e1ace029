"""Exact duplicates: samples whose image bytes are identical, by their sha256.

The hash is the ``sha256`` metadata column of the download's per-shard parquet: img2dataset computes
it from the downloaded bytes (``compute_hash: sha256``, :mod:`clipcurate.pool.download`), on the tiny world as
at real scale, where it is also DataComp's own ``sha256`` column (checked against the bytes with
``download.verify_sha256``). A sample without a hash is never a duplicate.

Staged (:mod:`clipcurate.scores.stages`) so that no job holds the pool's strings:

``prepare`` (per chunk)
    The first 128 bits of each hash as two uint64 words (16 bytes a row: 2 GB at 128M).
``fit`` (once)
    Every chunk's words in pool order, sorted; each hash held by two or more samples is a group,
    whose keeper is its **first sample in pool order** (chunk, row). Only the duplicated hashes are
    written.
``apply`` (per chunk)
    A row is removed when its hash is a duplicated one and it is not that hash's keeper.

Outputs: ``keep``; ``score`` = 1 / (the size of its group), 1 for a unique image.
"""

from __future__ import annotations

import numpy as np

from clipcurate.pool import dedup as D
from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata
from clipcurate.scores.stages import Resources, Stages


def _hashes(meta, ctx):
    col = meta.column("sha256")
    return D.sha256_words(col.to_pylist(), where=f"chunk {ctx.chunk}: metadata column sha256")


def prepare(params: dict, ctx, meta) -> dict[str, np.ndarray]:
    """The chunk's hashes (two uint64 words a row) and which rows have one."""
    words, valid = _hashes(meta, ctx)
    return {"words": words, "valid": valid, "chunk": np.array([int(ctx.chunk)], np.int64)}


def fit(params: dict, ctx, prepared) -> dict[str, np.ndarray]:
    """The duplicated hashes (sorted), each with its keeper's chunk and row and the group size."""
    words, valid, chunk, row = [], [], [], []
    for p in prepared:
        n = len(p["valid"])
        words.append(p["words"])
        valid.append(p["valid"])
        chunk.append(np.full(n, int(p["chunk"][0]), np.int64))
        row.append(np.arange(n, dtype=np.int64))
    if not words:
        return {"words": np.zeros((0, 2), np.uint64), "first_chunk": np.zeros(0, np.int64),
                "first_row": np.zeros(0, np.int64), "size": np.zeros(0, np.int64)}
    w, v = np.concatenate(words), np.concatenate(valid)
    chunk, row = np.concatenate(chunk)[v], np.concatenate(row)[v]
    w = w[v]
    order = np.lexsort((np.arange(len(w)), w[:, 1], w[:, 0]))  # equal hashes: pool order
    w, chunk, row = w[order], chunk[order], row[order]
    start = np.flatnonzero(np.r_[True, (w[1:] != w[:-1]).any(axis=1)])
    size = np.diff(np.r_[start, len(w)])
    dup = size > 1
    return {"words": w[start[dup]], "first_chunk": chunk[start[dup]], "first_row": row[start[dup]], "size": size[dup]}


def _find(table: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Position of each row of ``words`` in the sorted unique ``table`` (both (n, 2) uint64), -1 if absent."""
    if not len(table) or not len(words):
        return np.full(len(words), -1, np.int64)
    key = np.ascontiguousarray(table).view([("a", np.uint64), ("b", np.uint64)]).reshape(-1)
    q = np.ascontiguousarray(words).view([("a", np.uint64), ("b", np.uint64)]).reshape(-1)
    pos = np.searchsorted(key, q)
    pos = np.minimum(pos, len(key) - 1)
    return np.where(key[pos] == q, pos, -1)


@register(
    "exact_dup",
    level="chunk",
    inputs={"meta": Metadata(columns=("sha256",))},
    outputs=("score", "keep"),
    defaults={},
    stages=Stages(prepare=prepare, prepare_inputs=("meta",), fit=fit, apply_inputs=()),
    resources={"prepare": Resources(mem_mb=4000, runtime=30), "fit": Resources(mem_mb=16000, runtime=60),
               "apply": Resources(mem_mb=4000, runtime=30), "gather": Resources(mem_mb=16000, runtime=60)},
)
def exact_dup(params: dict, ctx, fitted: dict, prepared: dict) -> dict[str, np.ndarray]:
    """Per chunk: remove every copy of a duplicated hash but its first in pool order."""
    words, valid = prepared["words"], prepared["valid"]
    n = len(valid)
    keep = np.ones(n, bool)
    size = np.ones(n, np.int64)
    pos = np.where(valid, _find(fitted["words"], words), -1)
    hit = np.flatnonzero(pos >= 0)
    if len(hit):
        p = pos[hit]
        keep[hit] = (fitted["first_chunk"][p] == int(ctx.chunk)) & (fitted["first_row"][p] == hit)
        size[hit] = fitted["size"][p]
    return {"keep": keep, "score": D.dup_score(size)}
