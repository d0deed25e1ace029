"""The filter-quality report of the tiny world: how well each score separates clean samples from
each kind of bad sample, judged against the world's ground truth (``truth.parquet``).

For every configured score (each of its columns: the continuous ``score``, a rule filter's boolean
``keep``) the report gives the ROC AUC of "clean vs this bad kind" (higher score = cleaner; a
boolean column is a score with two values), and for every recipe that samples from a score, the
precision (the share of kept samples that are clean) and recall (the share of clean samples kept)
at the recipe's kept fraction. A real pool has no ground truth: the report is a tiny-world tool.

The AUC is the Mann-Whitney statistic computed from ranks, ties counting one half:
``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)`` with ``R_pos`` the sum of the clean samples'
mid-ranks among the clean and bad samples together.

Expectations from the papers are checked when the scores they name are configured, and written to
a notes file stating whether the tiny world shows each effect.
"""

from __future__ import annotations

import csv
import io as _io
from typing import Mapping, Sequence

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate.core import poolindex, scorefiles


class QualityError(ValueError):
    pass


def rank_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + 1/2 P(equal), from mid-ranks; NaN if a side is empty."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    n_pos, n_neg = len(pos), len(neg)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg]), method="average")
    r_pos = ranks[:n_pos].sum()
    return float((r_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of a ROC AUC from its two sample sizes (Hanley and McNeil 1982, eq. 2):
    ``sqrt((A(1-A) + (n_pos-1)(Q1-A^2) + (n_neg-1)(Q2-A^2)) / (n_pos n_neg))`` with ``Q1 = A/(2-A)``,
    ``Q2 = 2A^2/(1+A)`` (the exponential-score approximation); NaN if a side is empty.

    The rows the claims compare (:mod:`clipcurate.report.claims`, e.g. flipped against plain CLIP on
    scene text) are scored on the same samples, so the SE of their difference from two such SEs is
    conservative."""
    if n_pos == 0 or n_neg == 0 or not np.isfinite(auc):
        return float("nan")
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def precision_recall(kept: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """Precision (clean among kept) and recall (kept among clean) of a kept-mask."""
    kept = np.asarray(kept, dtype=bool)
    clean = np.asarray(clean, dtype=bool)
    tp = int((kept & clean).sum())
    precision = tp / int(kept.sum()) if kept.any() else float("nan")
    recall = tp / int(clean.sum()) if clean.any() else float("nan")
    return precision, recall


def truth_for_index(truth_path, index_path) -> np.ndarray:
    """Each pool index row's ground-truth kind (strings), row-aligned with the index."""
    truth = pq.read_table(truth_path, columns=["uid", "kind"])
    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid")
    pos = pc.index_in(uids, value_set=truth.column("uid"))
    if pos.null_count:
        first = uids[int(pc.index(pc.is_null(pos), True).as_py())].as_py()
        raise QualityError(f"{truth_path}: {pos.null_count} pool uids have no ground-truth row, e.g. {first}")
    kinds = np.asarray(truth.column("kind").to_pylist(), dtype=object)
    return kinds[pos.to_numpy()]


def bad_kinds(kinds: np.ndarray, clean_kind: str = "clean") -> list[str]:
    """The bad kinds present in the pool, in a stable order."""
    return sorted(k for k in set(kinds.tolist()) if k != clean_kind)


def score_rows(scores: Mapping[str, Mapping[str, np.ndarray]], kinds: np.ndarray, clean_kind: str = "clean") -> list[dict]:
    """One row per (score, column): AUC of clean vs each bad kind, and vs all bad samples together,
    each with its standard error (``auc_<kind>_se``, :func:`auc_se`)."""
    clean = kinds == clean_kind
    bads = bad_kinds(kinds, clean_kind)
    rows = []
    for name in scores:
        for col, values in scores[name].items():
            v = np.asarray(values).astype(np.float64)
            if len(v) != len(kinds):
                raise QualityError(f"score {name!r} column {col!r}: {len(v)} rows, the pool index has {len(kinds)}")
            row = {"entry": f"{name}:{col}" if col != "score" else name, "type": "filter" if col == "keep" else "score",
                   "score": name, "column": col}
            for k, bad in [*((k, kinds == k) for k in bads), ("all_bad", ~clean)]:
                row[f"auc_{k}"] = rank_auc(v[clean], v[bad])
                row[f"auc_{k}_se"] = auc_se(row[f"auc_{k}"], int(clean.sum()), int(bad.sum()))
            rows.append(row)
    return rows


def recipe_rows(recipes: Mapping[str, tuple[str, np.ndarray]], kinds: np.ndarray, clean_kind: str = "clean") -> list[dict]:
    """One row per recipe: ``recipes`` maps name -> (score it samples from, kept-mask over the index)."""
    clean = kinds == clean_kind
    rows = []
    for name, (score, kept) in recipes.items():
        kept = np.asarray(kept, dtype=bool)
        p, r = precision_recall(kept, clean)
        rows.append({"entry": name, "type": "recipe", "score": score, "column": "", "kept_fraction": float(kept.mean()),
                     "precision": p, "recall": r, "clean_fraction": float(clean.mean())})
    return rows


def check_expectations(expectations: Sequence[Mapping], rows: Sequence[Mapping]) -> list[dict]:
    """Check each expectation against the score rows; each result has ``claim``, ``status``, ``detail``.

    An expectation is either ``{claim, kind, better, worse}`` (score ``better`` separates clean from
    ``kind`` with a higher AUC than ``worse``) or ``{claim, kind, score, min_auc | max_auc}``. Score names may
    carry a column (``name:keep``). Status: ``holds``, ``does not hold`` or ``not checked`` (a score
    it names is not configured).
    """
    by = {r["entry"]: r for r in rows if r["type"] != "recipe"}
    out = []
    for e in expectations:
        names = [e[k] for k in ("better", "worse", "score") if k in e]
        missing = [n for n in names if n not in by]
        col = f"auc_{e['kind']}"
        if missing:
            out.append({"claim": e["claim"], "status": "not checked", "detail": f"score(s) {missing} not configured"})
            continue
        if any(col not in by[n] for n in names):
            out.append({"claim": e["claim"], "status": "not checked", "detail": f"no {e['kind']!r} samples in the pool"})
            continue
        if "better" in e:
            a, b = by[e["better"]][col], by[e["worse"]][col]
            ok = a > b
            detail = f"AUC clean vs {e['kind']}: {e['better']} {a:.3f}, {e['worse']} {b:.3f}"
        else:
            a = by[e["score"]][col]
            if "min_auc" in e:
                ok, bound = a >= float(e["min_auc"]), f">= {e['min_auc']}"
            else:
                ok, bound = a <= float(e["max_auc"]), f"<= {e['max_auc']}"
            detail = f"AUC clean vs {e['kind']}: {e['score']} {a:.3f} (expected {bound})"
        out.append({"claim": e["claim"], "status": "holds" if ok else "does not hold", "detail": detail, "entries": names})
    return out


def annotate(rows: list[dict], results: Sequence[Mapping]) -> None:
    """Fill each row's ``notes`` with the expectations it takes part in and their outcome."""
    for r in rows:
        notes = [f"{x['claim']}: {x['status']} on the tiny world" for x in results if r["entry"] in x.get("entries", ())]
        r["notes"] = "; ".join(notes)


def to_csv(rows: Sequence[Mapping]) -> str:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols and k != "notes":
                cols.append(k)
    cols.append("notes")
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        line = []
        for c in cols:
            v = r.get(c, "")
            line.append(f"{v:.4f}" if isinstance(v, float) and np.isfinite(v) else ("" if isinstance(v, float) else v))
        w.writerow(line)
    return buf.getvalue()


def notes_text(results: Sequence[Mapping]) -> str:
    lines = ["Paper expectations checked on the tiny world's ground truth", ""]
    for x in results:
        lines.append(f"- {x['claim']}: {x['status'].upper()} ({x['detail']})")
    if not results:
        lines.append("(no expectations configured)")
    return "\n".join(lines) + "\n"


def plot_heatmap(rows: Sequence[Mapping], path, title: str = "Clean vs bad kind: ROC AUC (ground truth)") -> None:
    """Heatmap of the AUC rows (scores and filters x bad kinds), each cell annotated."""
    from clipcurate.report.plots import new_figure, save_figure

    rows = [r for r in rows if r["type"] in ("score", "filter")]
    cols = [k for k in rows[0] if k.startswith("auc_") and not k.endswith("_se")] if rows else []
    data = np.array([[r[c] for c in cols] for r in rows], dtype=float) if rows else np.zeros((0, 0))
    fig = new_figure(1.2 * len(cols) + 3, 0.45 * len(rows) + 2, layout=None)
    ax = fig.add_subplot()
    im = ax.imshow(data, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(cols)), [c.removeprefix("auc_") for c in cols], rotation=35, ha="right")
    ax.set_yticks(range(len(rows)), [r["entry"] for r in rows])
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="AUC (0.5 = chance)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def build_report(
    score_files: Mapping[str, str],
    recipe_subsets: Mapping[str, tuple[str, str]],
    truth_path,
    index_path,
    expectations: Sequence[Mapping] = (),
    methods: Mapping[str, str] | None = None,
) -> tuple[list[dict], list[dict]]:
    """Rows of the report and the expectation results, from score files and recipe subsets.

    ``recipe_subsets`` maps a recipe to (its score, its subset parquet); ``methods`` (score ->
    method) adds a row per dedup score (:mod:`clipcurate.report.dedup_quality`).
    """
    kinds = truth_for_index(truth_path, index_path)
    scores = {}
    for name, path in score_files.items():
        cols = scorefiles.read_scores(path, index_path)
        # score and keep, and a method's further float columns (HYPE's neg_dist, eps_i, eps_t); not counts
        scores[name] = {c: cols[c] for c in ("score", "keep", *sorted(set(cols) - {"score", "keep", "count"})) if c in cols}
    rows = score_rows(scores, kinds)
    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid")
    recipes = {}
    for name, (score, subset_path) in recipe_subsets.items():
        subset = scorefiles.read_subset(subset_path)
        recipes[name] = (score, pc.is_in(uids, value_set=subset.column("uid")).to_numpy(zero_copy_only=False))
    rows += recipe_rows(recipes, kinds)
    if methods:
        from clipcurate.report import dedup_quality

        rows += dedup_quality.dedup_rows(scores, methods, kinds, dedup_quality.truth_dup_rows(truth_path, index_path))
    results = check_expectations(expectations, rows)
    annotate(rows, results)
    return rows, results
