"""Paper tables as files: rows are recipes, columns are DataComp aggregates or task metrics.

A table config (``config/tables/*.yaml``) names its rows (recipe + the label used in the paper),
its columns, and optionally the paper's reported numbers; at real scale those are printed beside
the reproduced values.
"""

from __future__ import annotations

import csv
import io as _io
import math
from typing import Mapping, Sequence

from clipcurate import io
from clipcurate.eval_results import aggregate, read_jsonl

SIZE_COLUMNS = {
    "dataset size": "unique",  # distinct samples in the subset
    "samples with repeats": "total",  # rows of the DataComp subset file
}


def row_values(recipe: str, eval_path, subset_path, suite: Mapping, columns: Sequence[str]) -> dict:
    lines = read_jsonl(eval_path)
    agg = aggregate(lines, suite, source=str(eval_path))
    per_task = {l["key"]: l["metrics"].get("main_metric") for l in lines}
    subset = io.read_subset(subset_path)
    sizes = {"unique": subset.num_rows, "total": int(sum(subset.column("count").to_pylist()))}
    out = {}
    for c in columns:
        if c in agg:
            out[c] = agg[c]
        elif c in SIZE_COLUMNS:
            out[c] = sizes[SIZE_COLUMNS[c]]
        elif c in per_task:
            out[c] = per_task[c]
        else:
            raise KeyError(f"table column {c!r} is neither an aggregate {sorted(agg)}, a size column "
                           f"{sorted(SIZE_COLUMNS)} nor a task of the suite")
    return out


def build_table(table_cfg: Mapping, rows: Mapping[str, Mapping], show_reported: bool) -> tuple[list[str], list[list]]:
    """Header and rows; ``rows`` maps recipe -> its values (from :func:`row_values`)."""
    columns = list(table_cfg["columns"])
    reported = table_cfg.get("reported") or {}
    header = ["method", *columns]
    if show_reported and reported:
        header += [f"{c} (paper)" for c in columns if any(c in r for r in reported.values())]
    body = []
    for row in table_cfg["rows"]:
        values = rows[row["recipe"]]
        line = [row["label"], *(values[c] for c in columns)]
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


def to_markdown(header, body, title: str | None = None, note: str | None = None) -> str:
    out = [f"## {title}\n"] if title else []
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for line in body:
        out.append("| " + " | ".join(_fmt(v) for v in line) + " |")
    if note:
        out.append(f"\n{note}")
    return "\n".join(out) + "\n"
