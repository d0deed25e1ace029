"""Paper tables as files: rows are recipes, columns are DataComp aggregates or task metrics.

A table config (``config/tables/*.yaml``) names its rows (recipe + the label used in the paper),
its columns, and optionally the paper's reported numbers; at real scale those are printed beside
the reproduced values.

Every score cell has its standard error (:mod:`clipcurate.report.uncertainty`: binomial per task, propagated
through DataComp's means): in the CSV as a ``<column>_se`` column after the table's columns, in the
Markdown and HTML as ``0.268 ± 0.022`` in the cell itself. Evaluation files written before the
evaluations recorded their test-set sizes give no standard error (empty ``_se`` cells, a warning).
"""

from __future__ import annotations

import csv
import io as _io
import math
from typing import Mapping, Sequence

from clipcurate.core import scorefiles
from clipcurate.evaluate.results import aggregate, read_jsonl
from clipcurate.report.uncertainty import aggregate_se, missing_counts, per_task_se

SIZE_COLUMNS = {
    "dataset size": "unique",  # distinct samples in the subset
    "samples with repeats": "total",  # rows of the DataComp subset file
}


def se_column(column: str) -> str:
    """The CSV column holding a score column's standard error."""
    return f"{column}_se"


def row_values(recipe: str, eval_path, subset_path, suite: Mapping, columns: Sequence[str], warn=None) -> dict:
    """A table row's values: each column's value and, for score columns, ``<column>_se`` its standard
    error (NaN, with a call of ``warn(message)``, when the evaluation file has no test-set sizes)."""
    lines = read_jsonl(eval_path)
    agg = aggregate(lines, suite, source=str(eval_path))
    agg_se = aggregate_se(lines, suite)
    per_task = {l["key"]: l["metrics"].get("main_metric") for l in lines}
    task_se = per_task_se(lines, suite)
    missing = missing_counts(lines, suite)
    if missing and warn is not None:
        warn(f"{eval_path}: no test-set sizes ('num_samples') for {len(missing)} tasks ({', '.join(missing[:5])}"
             f"{', ...' if len(missing) > 5 else ''}): the file was written before evaluations recorded them, so "
             f"recipe {recipe}'s cells have no standard error. Delete the file and rerun its evaluation to get them.")
    subset = scorefiles.read_subset(subset_path)
    sizes = {"unique": subset.num_rows, "total": int(sum(subset.column("count").to_pylist()))}
    out = {}
    for c in columns:
        if c in agg:
            out[c] = agg[c]
            out[se_column(c)] = agg_se[c]
        elif c in SIZE_COLUMNS:
            out[c] = sizes[SIZE_COLUMNS[c]]
        elif c in per_task:
            out[c] = per_task[c]
            out[se_column(c)] = task_se.get(c, math.nan)
        else:
            raise KeyError(f"table column {c!r} is neither an aggregate {sorted(agg)}, a size column "
                           f"{sorted(SIZE_COLUMNS)} nor a task of the suite")
    return out


def build_table(table_cfg: Mapping, rows: Mapping[str, Mapping], show_reported: bool) -> tuple[list[str], list[list]]:
    """Header and rows; ``rows`` maps recipe -> its values (from :func:`row_values`)."""
    columns = list(table_cfg["columns"])
    se_columns = [se_column(c) for c in columns if c not in SIZE_COLUMNS]
    reported = table_cfg.get("reported") or {}
    header = ["method", *columns, *se_columns]
    if show_reported and reported:
        header += [f"{c} (paper)" for c in columns if any(c in r for r in reported.values())]
    body = []
    for row in table_cfg["rows"]:
        values = rows[row["recipe"]]
        line = [row["label"], *(values[c] for c in columns), *(values.get(c, math.nan) for c in se_columns)]
        if show_reported and reported:
            rep = reported.get(row["label"], {})
            line += [rep.get(c) for c in columns if any(c in r for r in reported.values())]
        body.append(line)
    return header, body


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def to_csv(header, body) -> str:
    buf = _io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for line in body:
        w.writerow([_fmt(v) for v in line])
    return buf.getvalue()


def dropped_note(dropped: Sequence[Mapping]) -> str | None:
    """The line a table prints under its rows when rows were dropped: at real scale a recipe that
    uses an oracle score (the tiny world's ground truth) cannot be built, so its row is left out
    rather than filled with something else. ``dropped``: dicts with label, recipe, oracles."""
    if not dropped:
        return None
    rows = "; ".join(f"{d['label']} (recipe {d['recipe']}, oracle score {', '.join(d['oracles'])})" for d in dropped)
    return (f"Note: {len(dropped)} row(s) of this table need the tiny world's ground truth and are not "
            f"built on a real pool: {rows}.")


def _with_se(v, se) -> str:
    """``0.268 ± 0.022`` (three decimals: the SE of a few hundred test images is in the second), or
    the value alone (four decimals, as in the CSV) when it has no standard error."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if se is None or (isinstance(se, float) and math.isnan(se)) or not isinstance(v, (int, float)):
        return _fmt(v)
    return f"{float(v):.3f} ± {float(se):.3f}"


def fold_se(header, body) -> tuple[list[str], list[list]]:
    """The table as people read it (.md, HTML): each ``<column>_se`` folded into its column's cells
    as the string ``value ± se`` and dropped; other cells keep their values."""
    col = {c: i for i, c in enumerate(header)}
    se_of = {i: col[se_column(c)] for i, c in enumerate(header) if se_column(c) in col}
    shown = [i for i in range(len(header)) if i not in se_of.values()]
    out_body = [[_with_se(line[i], line[se_of[i]]) if i in se_of else line[i] for i in shown] for line in body]
    return [header[i] for i in shown], out_body


def display_table(header, body) -> tuple[list[str], list[list[str]]]:
    """:func:`fold_se`, every cell a string (the Markdown table)."""
    header, body = fold_se(header, body)
    return header, [[v if isinstance(v, str) else _fmt(v) for v in line] for line in body]


def to_markdown(header, body, title: str | None = None, note: str | None = None) -> str:
    header, body = display_table(header, body)
    out = [f"## {title}\n"] if title else []
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for line in body:
        out.append("| " + " | ".join(line) + " |")
    if note:
        out.append(f"\n{note}")
    return "\n".join(out) + "\n"
