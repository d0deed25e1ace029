"""Tables as small self-contained HTML pages for ``snakemake --report``.

Snakemake's report shows an HTML result in a frame but offers a CSV only as a download; so every
table the workflow writes also gets an HTML rendering: a caption, the table itself, and its CSV
attached as an embedded download link (a ``data:`` URI, so the page needs no other file).
"""

from __future__ import annotations

import base64
import html
import math
from typing import Sequence

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.2em; color: #222; }
h2 { font-size: 1.15em; margin: 0 0 .4em 0; }
p.note { color: #555; font-size: .9em; max-width: 60em; }
table { border-collapse: collapse; font-size: .9em; margin: .8em 0; }
th, td { border-bottom: 1px solid #ddd; padding: .3em .7em; }
th { background: #f3f5f8; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th.paper, td.paper { color: #666; font-style: italic; background: #fbfbf3; }
a.csv { font-size: .9em; }
"""


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.4f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _is_num(v) -> bool:
    """A number, or a value with its standard error (``0.268 ± 0.022``, clipcurate.report.tables.fold_se)."""
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) or (isinstance(v, str) and " ± " in v)


def table_html(header: Sequence[str], body: Sequence[Sequence], title: str = "", notes: Sequence[str] = (),
               csv_text: str | None = None, csv_name: str = "table.csv", table_id: str = "table") -> str:
    """An HTML page holding one table; columns named ``... (paper)`` are styled as reported values."""
    paper = [h.endswith(" (paper)") for h in header]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title or table_id)}</title><style>{_STYLE}</style></head><body>"]
    if title:
        out.append(f"<h2>{html.escape(title)}</h2>")
    for n in notes:
        out.append(f'<p class="note">{html.escape(n)}</p>')
    out.append(f'<table id="{html.escape(table_id)}"><thead><tr>')
    out += [f'<th{" class=paper" if p else ""}>{html.escape(h)}</th>' for h, p in zip(header, paper)]
    out.append("</tr></thead><tbody>")
    for line in body:
        cells = []
        for v, p in zip(line, paper):
            cls = " ".join(c for c in ("num" if _is_num(v) else "", "paper" if p else "") if c)
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(_cell(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if csv_text is not None:
        uri = "data:text/csv;charset=utf-8;base64," + base64.b64encode(csv_text.encode()).decode()
        out.append(f'<p><a class="csv" href="{uri}" download="{html.escape(csv_name)}">Download {html.escape(csv_name)}</a></p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
