"""What a figure draws, read from its matplotlib objects (not from the PNG, whose pixel size the
figure size fixes, so that an empty plot would pass).

The ``drawn`` fixture (tests/conftest.py) records every Figure saved while a test runs, through
matplotlib's own ``Figure.savefig``, so the plotting functions keep their production form (they
write a PNG and return nothing) and the test reads the Figure they saved.
"""

from __future__ import annotations

import math


def bars(ax) -> dict[str, list[float]]:
    """Bar containers of ``ax`` by label: each bar's length (width of a horizontal bar, height of a
    vertical one), in drawing order. Unlabelled containers get ``_bars<i>``."""
    out = {}
    for i, c in enumerate(ax.containers):
        label = c.get_label()
        key = label if label and not label.startswith("_") else f"_bars{i}"
        horizontal = getattr(c, "orientation", "vertical") == "horizontal"
        out[key] = [p.get_width() if horizontal else p.get_height() for p in c.patches]
    return out


def lefts(ax, label: str) -> list[float]:
    """Where each bar of the container ``label`` starts (stacked bars)."""
    c = next(c for c in ax.containers if c.get_label() == label)
    return [p.get_x() for p in c.patches]


def lines(ax) -> dict[str, tuple[list[float], list[float]]]:
    """Lines of ``ax`` by label: (x data, y data); a line drawn with error bars (``errorbar``, whose
    container carries the label) counts as its data line."""
    from matplotlib.container import ErrorbarContainer

    def xy(ln):
        return [float(v) for v in ln.get_xdata()], [float(v) for v in ln.get_ydata()]

    out = {}
    in_errorbars = set()
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer) and c.lines[0] is not None:
            out[c.get_label()] = xy(c.lines[0])
            in_errorbars.add(id(c.lines[0]))
    for ln in ax.get_lines():
        if id(ln) not in in_errorbars and not ln.get_label().startswith("_"):
            out[ln.get_label()] = xy(ln)
    return out


def texts(ax) -> list[str]:
    """Texts and annotations drawn inside ``ax``."""
    return [t.get_text() for t in ax.texts]


def yticklabels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def legend_labels(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg is not None else []


def same(a, b, tol=1e-9) -> bool:
    """Equal float lists, NaN equal to NaN."""
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol for x, y in zip(a, b))


def vertical_bars(ax) -> list[tuple[float, float]]:
    """(centre x, height) of each vertical bar of ``ax``, left to right."""
    return sorted((p.get_x() + p.get_width() / 2, p.get_height()) for c in ax.containers for p in c.patches)
