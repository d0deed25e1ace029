"""Deciding a paper's claim from table rows over several runs (world seeds), with their uncertainty.

A claim compares two rows of a paper table on one metric: "M-FLYT beats Standardized Sum on the
ImageNet analogue" is ``{table: table2, better: M-FLYT, worse: Standardized Sum, metric: ImageNet}``
(or rows of another CSV of the run with a ``method`` column and ``<metric>_se`` columns, given as
``file:``, e.g. the DFN data-quality points, or the filter-quality report's ``entry`` rows with their
AUCs ``auc_<kind>`` and ``auc_<kind>_se``).
On one run (one world seed) the difference d = better - worse is *significant* when it exceeds z
standard errors of the difference (z = 2 by default, about a 95 % two-sided test), with
SE_diff = sqrt(se_better^2 + se_worse^2) (:func:`clipcurate.report.uncertainty.diff_se`; conservative
when both rows were evaluated on the same test images). Each run then says +1 (significantly in the
claimed direction), -1 (significantly reversed) or 0 (within the noise, or no standard error).

Over N runs, :func:`decide` says

* ``holds`` when at least ``min_runs`` runs (default: all of them) say +1 and none says -1;
* ``does not hold`` when at least ``min_runs`` runs say -1 and none says +1;
* ``not decided`` otherwise: the rows cannot be told apart with these test sets, or runs disagree.

``min_runs`` states a majority where one is wanted (e.g. 2 of 3 seeds). The standard errors are the
test-set sampling error of each run's models; the variation between runs (other worlds, other
training seeds) is what asking for every run, or a majority, guards against.

``python -m clipcurate.report.claims --claims config/claims.yaml RUN_DIR ...`` reads the claims
(``reports.claims`` of that file) and each run's ``results/tables/{table}.csv`` (with the ``_se``
columns every table has) and writes the decisions as CSV.
"""

from __future__ import annotations

import argparse
import csv
import io as _io
import math
import sys
from pathlib import Path
from typing import Mapping, Sequence

from clipcurate.report.uncertainty import diff_se

HOLDS, NOT_DECIDED, DOES_NOT_HOLD = "holds", "not decided", "does not hold"
DIRECTIONS = ("higher", "lower")


class ClaimError(ValueError):
    pass


def run_verdict(better: float, se_better: float, worse: float, se_worse: float,
                direction: str = "higher", z: float = 2.0) -> tuple[float, float, int]:
    """(difference in the claimed direction, its SE, verdict +1/0/-1) of one run.

    ``direction: lower`` claims ``better`` has the lower value (e.g. a smaller dataset); the
    difference is then worse - better, so a positive difference always supports the claim.
    """
    if direction not in DIRECTIONS:
        raise ClaimError(f"claim direction: expected one of {DIRECTIONS}, got {direction!r}")
    d = (better - worse) if direction == "higher" else (worse - better)
    se = diff_se(se_better, se_worse)
    if math.isnan(d) or math.isnan(se):
        return d, se, 0
    if d > z * se:
        return d, se, 1
    if d < -z * se:
        return d, se, -1
    return d, se, 0


def decide(runs: Sequence[Mapping[str, float]], direction: str = "higher", z: float = 2.0,
           min_runs: int | None = None) -> dict:
    """Decide a claim over runs; each run is ``{better, se_better, worse, se_worse}``.

    Returns ``{verdict, runs, supporting, reversed, required, diffs, ses}`` (see the module docstring).
    """
    if not runs:
        raise ClaimError("a claim needs at least one run")
    required = len(runs) if min_runs is None else int(min_runs)
    if not 1 <= required <= len(runs):
        raise ClaimError(f"claim min_runs: expected 1..{len(runs)} (the runs given), got {min_runs}")
    per_run = [run_verdict(r["better"], r["se_better"], r["worse"], r["se_worse"], direction, z) for r in runs]
    plus = sum(1 for *_, v in per_run if v > 0)
    minus = sum(1 for *_, v in per_run if v < 0)
    if plus >= required and minus == 0:
        verdict = HOLDS
    elif minus >= required and plus == 0:
        verdict = DOES_NOT_HOLD
    else:
        verdict = NOT_DECIDED
    return {"verdict": verdict, "runs": len(runs), "supporting": plus, "reversed": minus, "required": required,
            "diffs": [d for d, _, _ in per_run], "ses": [s for _, s, _ in per_run]}


# ---- over table CSVs ---------------------------------------------------------------------------


def check_claims(claims: Sequence[Mapping], tables: Mapping[str, Mapping]) -> None:
    """Each claim names a configured table, two of its row labels and one of its score columns
    (``tables``: config ``tables``), so that a typo is found before any run is read."""
    from clipcurate.report.tables import SIZE_COLUMNS

    for i, c in enumerate(claims):
        where = f"reports.claims[{i}] ({c.get('claim', '?')!r})"
        missing = [k for k in ("claim", "better", "worse", "metric") if k not in c]
        if missing:
            raise ClaimError(f"{where}: missing {missing}")
        if c.get("file"):  # a CSV of the run (e.g. the DFN data-quality points): checked when read
            continue
        if "table" not in c:
            raise ClaimError(f"{where}: give a table or a file")
        if c["table"] not in tables:
            raise ClaimError(f"{where}: unknown table {c['table']!r}; tables: {sorted(tables)}")
        t = tables[c["table"]]
        labels = [r["label"] for r in t["rows"]]
        for key in ("better", "worse"):
            if c[key] not in labels:
                raise ClaimError(f"{where}: {key} {c[key]!r} is not a row of table {c['table']!r}; rows: {labels}")
        scores = [col for col in t["columns"] if col not in SIZE_COLUMNS]
        if c["metric"] not in scores:
            raise ClaimError(f"{where}: metric {c['metric']!r} is not a score column of table {c['table']!r}: {scores}")
        if c.get("direction", "higher") not in DIRECTIONS:
            raise ClaimError(f"{where}: direction {c['direction']!r}; expected one of {DIRECTIONS}")


#: the columns that name a CSV's rows: a table's (and the DFN data-quality points') ``method``, the
#: filter-quality report's ``entry`` (a score, ``score:keep`` or a recipe)
ROW_KEYS = ("method", "entry")


def read_table_csv(path: str | Path) -> dict[str, dict[str, str]]:
    """{row label (column ``method``, or ``entry`` in the filter-quality report): {column: cell}} of a CSV."""
    path = Path(path)
    if not path.exists():
        raise ClaimError(f"{path}: table not found; build it in that run's directory first (snakemake ... --directory RUN)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    key = next((k for k in ROW_KEYS if not rows or k in rows[0]), None)
    if key is None:
        raise ClaimError(f"{path}: no {' or '.join(repr(k) for k in ROW_KEYS)} column; expected a table written by the "
                         "table rule or the filter-quality report")
    return {r[key]: r for r in rows}


def _cell(table: Mapping, path, label: str, column: str) -> float:
    if label not in table:
        raise ClaimError(f"{path}: no row {label!r}; rows: {sorted(table)}")
    row = table[label]
    if column not in row:
        raise ClaimError(f"{path}: no column {column!r}; columns: {sorted(row)}")
    v = row[column]
    return float(v) if v not in ("", None) else math.nan


def claim_file(claim: Mapping) -> str:
    """The CSV a claim reads in each run: ``file``, or the table's ``results/tables/{table}.csv``."""
    if claim.get("file"):
        return str(claim["file"])
    if not claim.get("table"):
        raise ClaimError(f"claim {claim.get('claim', '?')!r}: give a table or a file")
    return f"results/tables/{claim['table']}.csv"


def claim_runs(claim: Mapping, run_dirs: Sequence[str | Path]) -> list[dict]:
    """One ``{better, se_better, worse, se_worse}`` per run directory, from its table CSV."""
    out = []
    for run in run_dirs:
        path = Path(run) / claim_file(claim)
        table = read_table_csv(path)
        m = claim["metric"]
        out.append({"better": _cell(table, path, claim["better"], m), "se_better": _cell(table, path, claim["better"], f"{m}_se"),
                    "worse": _cell(table, path, claim["worse"], m), "se_worse": _cell(table, path, claim["worse"], f"{m}_se")})
    return out


def decide_claims(claims: Sequence[Mapping], run_dirs: Sequence[str | Path], z: float = 2.0) -> list[dict]:
    """One row per claim: the claim, its verdict and the per-run differences ± SE."""
    rows = []
    for c in claims:
        missing = [k for k in ("claim", "better", "worse", "metric") if k not in c]
        if missing:
            raise ClaimError(f"claim {c.get('claim', c)!r}: missing {missing}")
        res = decide(claim_runs(c, run_dirs), c.get("direction", "higher"), z, c.get("min_runs"))
        rows.append({"claim": c["claim"], "table": c.get("table") or c.get("file"), "metric": c["metric"], "better": c["better"],
                     "worse": c["worse"], "verdict": res["verdict"], "runs": res["runs"],
                     "supporting": res["supporting"], "reversed": res["reversed"], "required": res["required"],
                     "differences": "; ".join(f"{d:+.4f} ± {s:.4f}" for d, s in zip(res["diffs"], res["ses"]))})
    return rows


def to_csv(rows: Sequence[Mapping]) -> str:
    buf = _io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    import yaml

    p = argparse.ArgumentParser(prog="python -m clipcurate.report.claims", description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", help="run directories (each holds results/tables/*.csv), e.g. one per world seed")
    p.add_argument("--claims", default="config/claims.yaml", help="YAML file whose reports.claims lists the claims")
    p.add_argument("--z", type=float, default=2.0, help="standard errors a difference must exceed (default 2)")
    p.add_argument("--out", default="-", help="output CSV (default: stdout)")
    p.add_argument("--repo", default=None, help="checkout whose config/tables the claims are checked against "
                   "(default: none, the CSVs alone)")
    a = p.parse_args(argv)
    cfg = yaml.safe_load(Path(a.claims).read_text()) or {}
    claims = (cfg.get("reports") or {}).get("claims")
    if not claims:
        raise ClaimError(f"{a.claims}: no reports.claims list")
    if a.repo is not None:
        tables: dict = {}  # config/tables/*.yaml, read here (the config package would bring every stage's imports)
        for path in sorted((Path(a.repo) / "config" / "tables").glob("*.yaml")):
            tables.update(yaml.safe_load(path.read_text()) or {})
        check_claims(claims, tables)
    text = to_csv(decide_claims(claims, a.runs, a.z))
    if a.out == "-":
        sys.stdout.write(text)
    else:
        from clipcurate.core.fileio import atomic_path

        with atomic_path(a.out) as tmp:
            tmp.write_text(text)
    return 0


def _cli() -> int:
    try:
        return main()
    except ClaimError as e:
        print(e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_cli())
