"""The dedup rows of the filter-quality report (:mod:`clipcurate.report.quality`): for each dedup score,
its removals judged against the tiny world's ground truth.

A dedup method's removed samples (``keep`` false) are its positive predictions; the target is the
world's kind it should find: ``near_duplicate`` (a clean image re-rendered shifted, noised and
re-encoded, placed after its original: ``truth.dup_of``) for ``exact_dup``, ``near_dup``,
``phash_dup`` and ``semdedup``; ``eval_copy`` (an evaluation test image planted in the pool) for
``decontam``. Per score:

* ``removed``: samples removed; ``target``: samples of the target kind in the pool;
* ``precision``: the share of removed samples that are of the target kind; ``recall``: the share of
  target samples removed;
* ``pair_recall`` (``near_duplicate`` only): the share of near duplicates for which the sample or
  its original was removed, i.e. the pair was found whichever member the method kept (SemDeDup
  keeps the member farthest from its centroid, which may be the copy);
* ``groups``: duplicate groups found (of two or more samples), from the ``score`` column of the
  methods that write 1 / group size (:func:`clipcurate.pool.dedup.groups_from_score`); empty for SemDeDup
  and decontam, whose removals are not groups.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate.core import poolindex

#: dedup method -> the ground-truth kind it should remove
TARGET_KIND = {"exact_dup": "near_duplicate", "near_dup": "near_duplicate", "phash_dup": "near_duplicate",
               "semdedup": "near_duplicate", "decontam": "eval_copy"}
#: methods whose ``score`` is 1 / (duplicate group size)
GROUP_SCORE = ("exact_dup", "near_dup", "phash_dup")


def truth_dup_rows(truth_path, index_path) -> np.ndarray:
    """For each index row, the index row of its ``dup_of`` original (-1: none, or not in the index)."""
    names = pq.read_schema(truth_path).names
    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid")
    if "dup_of" not in names:
        return np.full(len(uids), -1, np.int64)
    truth = pq.read_table(truth_path, columns=["uid", "dup_of"])
    pos = pc.index_in(uids, value_set=truth.column("uid"))
    dup_of = truth.column("dup_of").take(pos)
    row = pc.index_in(dup_of, value_set=uids)
    return pc.fill_null(row, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def dedup_row(name: str, method: str, keep: np.ndarray, score: np.ndarray | None, kinds: np.ndarray,
              dup_row: np.ndarray | None = None) -> dict:
    """One report row of a dedup score (see the module docstring)."""
    from clipcurate.pool.dedup import groups_from_score

    kind = TARGET_KIND[method]
    removed = ~np.asarray(keep, bool)
    target = kinds == kind
    n_rem, n_tgt = int(removed.sum()), int(target.sum())
    tp = int((removed & target).sum())
    row = {"entry": f"{name}:dedup", "type": "dedup", "score": name, "column": "keep", "target_kind": kind,
           "target": n_tgt, "removed": n_rem,
           "precision": tp / n_rem if n_rem else float("nan"),
           "recall": tp / n_tgt if n_tgt else float("nan"),
           "groups": groups_from_score(score) if method in GROUP_SCORE and score is not None else ""}
    if kind == "near_duplicate" and dup_row is not None and n_tgt:
        rows = np.flatnonzero(target)
        orig = dup_row[rows]
        found = removed[rows] | np.where(orig >= 0, removed[np.maximum(orig, 0)], False)
        row["pair_recall"] = float(found.mean())
    return row


def dedup_rows(scores: Mapping[str, Mapping[str, np.ndarray]], methods: Mapping[str, str], kinds: np.ndarray,
               dup_row: np.ndarray | None = None) -> list[dict]:
    """A row per configured dedup score (``methods``: score name -> method; others are skipped)."""
    rows = []
    for name, cols in scores.items():
        method = methods.get(name)
        if method in TARGET_KIND and "keep" in cols:
            rows.append(dedup_row(name, method, cols["keep"], cols.get("score"), kinds, dup_row))
    return rows
