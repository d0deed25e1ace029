"""The figures of a paper table, as one file target (``results/figures/{table}.txt``).

A table's numbers need only its evaluations (``rules/tables.smk``: the ``table`` rule), so the
figures drawn about the runs behind it (the pool, each score, FLYT run and trained reference
model it uses, each row's training curve and per-task evaluation, the tiny world's subset
quality) are not its inputs. They belong to the report and to their own target: the
``table_figures`` rule asks for all of them and writes this list, so that

    snakemake results/figures/table1.txt                 # draws table1's figures
    snakemake --report report.html results/tables/table1.csv results/figures/table1.txt

draws them and puts them in the report (Snakemake's report shows the ``report(...)`` outputs of
the jobs in the DAG of the targets it is given).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from clipcurate.core.fileio import atomic_path


def figure_lines(groups: Mapping[str, Sequence[str] | str]) -> list[str]:
    """``kind<TAB>path`` lines, one per figure file, in the groups' order (each path once; a
    group may be one path or a list, as the rule's named inputs are)."""
    lines, seen = [], set()
    for kind, paths in groups.items():
        for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
            path = str(path)
            if path not in seen:
                seen.add(path)
                lines.append(f"{kind}\t{path}")
    return lines


def write_figure_list(groups: Mapping[str, Sequence[str] | str], out: str | os.PathLike) -> int:
    """Write :func:`figure_lines` to ``out`` atomically (each figure must exist: the rule's inputs);
    returns the number of figures listed."""
    lines = figure_lines(groups)
    missing = [line.split("\t", 1)[1] for line in lines if not os.path.exists(line.split("\t", 1)[1])]
    if missing:
        raise FileNotFoundError(f"{out}: figures listed but missing: {', '.join(missing)}")
    with atomic_path(out) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines))
    return len(lines)
