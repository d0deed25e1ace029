"""Figures of the workflow's results, for people and for ``snakemake --report``.

Every function draws on matplotlib's Agg canvas without pyplot (no global state, no display) and
writes its PNG atomically. Readability rules kept throughout: labelled axes with units, a legend
whenever colours carry meaning, long labels on the y axis of horizontal bars (they never collide),
and titles wrapped to the figure width.

* :func:`table_chart` -- a paper table: the aggregates per row as horizontal bars with error bars of
  one standard error (the table's ``<column>_se`` columns), the paper's
  reported numbers (when the table config has them) as hatched bars beside the reproduced ones;
  a ``plot: {kind: lines}`` table (FLYT Figures 3 and 4) is drawn by :func:`sampler_lines`.
* :func:`sampler_lines` -- FLYT Figure 3: two panels (ImageNet, average), x = dataset size (or
  another numeric column), one line per sampler (SCS, HCS, threshold, no cap), points labelled with
  the sampler parameter.
* :func:`flyt_curves` -- a FLYT run's per-step history: upstream and downstream loss, and for an
  M-FLYT mixer the weight of each input score over the steps.
* :func:`clip_loss_curve` -- CLIP training loss over samples seen, parsed from open_clip_train's log.
* :func:`download_chart` -- download outcome per failure kind, and the pool composition per kind.
"""

from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from clipcurate.core import fileio

#: colour-blind safe palette (Paul Tol's "bright")
COLORS = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB", "#000000"]
#: table columns that count samples, not accuracies: drawn on their own axis
COUNT_COLUMNS = ("dataset size", "samples with repeats")
#: sampler names as the FLYT paper writes them in Figure 3's legend
SAMPLER_NAMES = {"scs": "SCS", "hcs": "HCS", "threshold": "Threshold", "nocap": "No cap",
                 "all": "No filtering", "keep": "Keep"}
#: the parameter each sampler is swept over, with its symbol
SAMPLER_PARAMS = {"scs": ("alpha", "α"), "hcs": ("beta", "β"), "threshold": ("fraction", "")}


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """A matplotlib ``Figure`` of ``width`` x ``height`` inches on the Agg canvas, without pyplot:
    no global figure state shared between plots (nothing to close), and no display needed. Every
    figure of the project is made here (``clipcurate.report.quality``, ``clipcurate.train.dfn`` and
    ``clipcurate.sample.histogram`` too) and written with :func:`save_figure`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi: int = 100) -> None:
    """Write ``fig`` as a PNG through :func:`clipcurate.core.fileio.atomic_path`, so an interrupted job never
    leaves a truncated image that looks complete."""
    with fileio.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


_figure, _save = new_figure, save_figure  # the names the charts below use


def _human(v: float, _pos=None) -> str:
    """Tick label for a sample count: 950, 12k, 1.5M (no shared '1e7' offset text to collide with)."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.0f}"


def _count_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(_human))


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else ""


def _num(v) -> float:
    """A table cell as a float (NaN for an empty or missing one)."""
    if v is None or v == "":
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _split_columns(header: Sequence[str]) -> tuple[list[str], list[str]]:
    """(accuracy columns, count columns) of a table header, without 'method', '(paper)' and the
    standard-error columns ('<column>_se')."""
    cols = [c for c in header[1:] if not c.endswith(" (paper)") and not (c.endswith("_se") and c[:-3] in header)]
    return [c for c in cols if c not in COUNT_COLUMNS], [c for c in cols if c in COUNT_COLUMNS]


def _se_values(header: Sequence[str], body: Sequence[Sequence], column: str) -> list[float] | None:
    """The standard errors of a column per row (its '<column>_se' column, clipcurate.report.tables), NaN
    where unknown; None when the table has no such column or no finite value in it."""
    col = {c: i for i, c in enumerate(header)}
    if f"{column}_se" not in col:
        return None
    ses = [_num(r[col[f"{column}_se"]]) for r in body]
    return ses if any(not math.isnan(v) for v in ses) else None


def _reported(table_cfg: Mapping, label: str, column: str) -> float:
    rep = (table_cfg.get("reported") or {}).get(label) or {}
    return _num(rep.get(column))


# ---- paper tables ---------------------------------------------------------------------------


def table_chart(table_cfg: Mapping, header: Sequence[str], body: Sequence[Sequence], out_png,
                recipes: Mapping[str, Mapping] | None = None, name: str = "") -> None:
    """Draw a paper table as a chart (see the module docstring); ``body`` rows follow ``header``.

    A score column with a ``<column>_se`` column gets error bars of one standard error each way
    (rows without one get none). Returns the matplotlib Figure (already saved to ``out_png``)."""
    plot = table_cfg.get("plot") or {}
    if plot.get("kind", "bars") == "lines":
        return sampler_lines(table_cfg, header, body, out_png, recipes or {}, name=name)
    metrics, counts = _split_columns(header)
    col = {c: i for i, c in enumerate(header)}
    labels = [str(r[0]) for r in body]
    n = len(labels)
    with_reported = [m for m in metrics if any(not math.isnan(_reported(table_cfg, l, m)) for l in labels)]
    n_bars = len(metrics) + len(with_reported)
    height = max(2.8, 0.9 + n * (0.22 * n_bars + 0.25))
    width_ratios = [3, 1] if counts else [1]
    fig = _figure(10 if counts else 8, height)
    axes = fig.subplots(1, len(width_ratios), sharey=True, width_ratios=width_ratios, squeeze=False)[0]
    ax = axes[0]
    y = np.arange(n)[::-1].astype(float)  # first row at the top, as in the table
    bar_h = 0.8 / max(1, n_bars)
    k = 0
    for j, m in enumerate(metrics):
        color = COLORS[j % len(COLORS)]
        vals = [_num(r[col[m]]) for r in body]
        ses = _se_values(header, body, m)
        ax.barh(y + 0.4 - (k + 0.5) * bar_h, vals, height=bar_h, color=color, label=m,
                xerr=None if ses is None else [0.0 if math.isnan(v) else v for v in ses],
                error_kw={"ecolor": "#333333", "elinewidth": 1, "capsize": 2})
        k += 1
        if m in with_reported:
            rep = [_reported(table_cfg, l, m) for l in labels]
            ax.barh(y + 0.4 - (k + 0.5) * bar_h, rep, height=bar_h, color="white", edgecolor=color,
                    hatch="///", label=f"{m} (paper)")
            k += 1
    ax.set_yticks(y, [_wrap(l, 28) for l in labels])
    ax.set_xlabel("zero-shot score (accuracy; retrieval: mean recall@1; 0–1)"
                  + ("; bars: ± 1 standard error" if any(_se_values(header, body, m) for m in metrics) else ""))
    finite = [_num(r[col[m]]) + max(0.0, _num(r[col[f"{m}_se"]]) if f"{m}_se" in col else 0.0)
              for r in body for m in metrics] + [
        _reported(table_cfg, l, m) for l in labels for m in with_reported]
    finite = [v for v in finite if not math.isnan(v)]
    ax.set_xlim(0, min(1.0, max(finite + [0.05]) * 1.15))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0) if not counts else (0.0, -0.08 * 8 / height),
              ncol=1 if not counts else min(3, n_bars), frameon=False)
    if counts:
        cax = axes[1]
        for j, c in enumerate(counts):
            vals = [_num(r[col[c]]) for r in body]
            h = 0.8 / len(counts)
            cax.barh(y + 0.4 - (j + 0.5) * h, vals, height=h, color=COLORS[(len(metrics) + j) % len(COLORS)])
        cax.set_xlabel(" / ".join(counts) + "\n(samples)")
        _count_axis(cax.xaxis)
        cax.grid(axis="x", alpha=0.3)
    fig.suptitle(_wrap(f"{name}: {table_cfg.get('title', '')}" if name else table_cfg.get("title", ""), 90), fontsize=10)
    _save(fig, out_png)
    return fig


def _sampler_of(recipe: Mapping) -> tuple[str, float | None]:
    sample = recipe.get("sample") or {}
    method = str(sample.get("method", "?"))
    key = SAMPLER_PARAMS.get(method, (None,))[0]
    return method, (_num(sample.get(key)) if key else None)


def _param_text(method: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return ""
    key, sym = SAMPLER_PARAMS[method]
    if method == "threshold":
        return f"{value * 100:g}%"
    return f"{sym}={value:g}"


def sampler_series(table_cfg: Mapping, header: Sequence[str], body: Sequence[Sequence],
                   recipes: Mapping[str, Mapping], name: str = "") -> tuple[str, list[str], dict]:
    """(x column, panel columns, {sampler: [(x, {panel: y}, parameter text, {panel: se})] sorted by x})
    of a ``plot: lines`` table; rows are grouped by their recipe's ``sample.method``; se is NaN where
    the table has no standard error."""
    plot = table_cfg.get("plot") or {}
    x_col = plot.get("x", "dataset size")
    panels = list(plot.get("panels") or ["ImageNet", "Average"])
    col = {c: i for i, c in enumerate(header)}
    for c in [x_col, *panels]:
        if c not in col:
            raise KeyError(f"table {name!r}: plot column {c!r} is not among the table's columns {list(header[1:])}")
    rows = table_cfg["rows"]
    if len(rows) != len(body):
        raise ValueError(f"table {name!r}: {len(rows)} configured rows but {len(body)} table rows")
    series: dict[str, list[tuple[float, dict, str]]] = {}
    for row, line in zip(rows, body):
        method, value = _sampler_of(recipes.get(row["recipe"], {}))
        series.setdefault(method, []).append(
            (_num(line[col[x_col]]), {p: _num(line[col[p]]) for p in panels}, _param_text(method, value),
             {p: _num(line[col[f"{p}_se"]]) if f"{p}_se" in col else math.nan for p in panels}))
    return x_col, panels, {m: sorted(pts, key=lambda t: t[0]) for m, pts in series.items()}


def sampler_lines(table_cfg: Mapping, header: Sequence[str], body: Sequence[Sequence], out_png,
                  recipes: Mapping[str, Mapping], name: str = "") -> None:
    """FLYT Figure 3/4: one panel per metric, x = ``plot.x`` column, one line per sampler, with
    error bars of one standard error where the table has them. Returns the Figure (saved)."""
    x_col, panels, series = sampler_series(table_cfg, header, body, recipes, name)
    fig = _figure(5.2 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    markers = "osD^vP*X"
    for ax, p in zip(axes, panels):
        for j, (method, pts) in enumerate(series.items()):
            xs = [t[0] for t in pts]
            ys = [t[1][p] for t in pts]
            ses = [t[3][p] for t in pts]
            has_se = any(not math.isnan(v) for v in ses)
            ax.errorbar(xs, ys, yerr=[0.0 if math.isnan(v) else v for v in ses] if has_se else None,
                        marker=markers[j % len(markers)], color=COLORS[j % len(COLORS)], capsize=2 if has_se else 0,
                        label=SAMPLER_NAMES.get(method, method), linewidth=1.5, markersize=5, elinewidth=0.8)
            for t, xv, yv in zip(pts, xs, ys):  # the parameter beside each point, alternately above/below
                if t[2] and not (math.isnan(xv) or math.isnan(yv)):
                    ax.annotate(t[2], (xv, yv), textcoords="offset points", xytext=(4, 5 if j % 2 == 0 else -11),
                                fontsize=7, color=COLORS[j % len(COLORS)])
        ax.set_xlabel(f"{x_col} (samples)" if x_col in COUNT_COLUMNS else x_col)
        ax.set_ylabel(f"{p} accuracy (fraction; bars ± 1 SE)" if any(
            not math.isnan(t[3][p]) for pts in series.values() for t in pts) else f"{p} accuracy (fraction)")
        ax.set_title(p, fontsize=10)
        if x_col in COUNT_COLUMNS:
            _count_axis(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.15)
    axes[-1].legend(title="sampler", fontsize=8, title_fontsize=8, loc="best")
    fig.suptitle(_wrap(f"{name}: {table_cfg.get('title', '')}" if name else table_cfg.get("title", ""), 100), fontsize=10)
    _save(fig, out_png)
    return fig


# ---- training curves --------------------------------------------------------------------------


def flyt_curves(info: Mapping, out_png, title: str = "") -> None:
    """Losses over FLYT steps, and for a mixer the weight of each input score per step."""
    hist = info.get("history") or []
    steps = [h["step"] for h in hist]
    weights = [h.get("mixer_weights") for h in hist]
    names = [str(n) for n in (info.get("inputs") or info.get("weights") or {})]
    has_weights = bool(hist) and all(w is not None for w in weights)
    fig = _figure(10 if has_weights else 6, 4)
    axes = fig.subplots(1, 2 if has_weights else 1, squeeze=False)[0]
    ax = axes[0]
    for j, key in enumerate(("downstream_loss", "upstream_loss")):
        vals = [_num(h.get(key)) for h in hist]
        if any(not math.isnan(v) for v in vals):
            ax.plot(steps, vals, color=COLORS[j], marker="o" if len(steps) < 30 else None, markersize=3,
                    label=key.replace("_", " "))
    ax.set_xlabel("FLYT step")
    ax.set_ylabel("loss (nats)")
    ax.set_title("losses", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if has_weights:
        wax = axes[1]
        w = np.asarray(weights, dtype=float)
        if len(names) != w.shape[1]:
            names = [f"input {i}" for i in range(w.shape[1])]
        for i, n in enumerate(names):
            # M-FLYT's twelve inputs outnumber the palette: the second round of colours is dashed
            wax.plot(steps, w[:, i], color=COLORS[i % len(COLORS)], linestyle=("-", "--", ":")[(i // len(COLORS)) % 3],
                     marker="o" if len(steps) < 30 else None, markersize=3, label=f"{n} (final {w[-1, i]:.3g})")
        wax.set_xlabel("FLYT step")
        wax.set_ylabel("mixer weight (per standardised score)")
        wax.set_title("M-FLYT weight per input", fontsize=10)
        wax.grid(alpha=0.3)
        wax.legend(fontsize=8, title="input score", title_fontsize=8)
    from matplotlib.ticker import MaxNLocator

    for a in axes:  # steps are whole numbers
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not hist:
        ax.text(0.5, 0.5, "no training steps recorded", transform=ax.transAxes, ha="center")
    fig.suptitle(_wrap(title, 100), fontsize=10)
    _save(fig, out_png)


_TRAIN_LINE = re.compile(
    r"Train Epoch: (?P<epoch>\d+) \[\s*(?P<seen>\d+)/(?P<total>\d+).*?"
    r"LR: (?P<lr>[0-9.eE+-]+).*?Loss: (?P<loss>[0-9.eE+-]+|nan)"
)


def parse_open_clip_log(text: str) -> list[dict]:
    """Per logged step of open_clip_train's ``out.log``: epoch, samples seen, lr and loss.

    open_clip_train prints ``Train Epoch: E [seen/total (p%)] ... LR: x ... Loss: cur (avg)``; the
    samples seen count from the start of each epoch, so they are made cumulative here.
    """
    out, offset, last_epoch, last_total = [], 0, None, 0
    for m in _TRAIN_LINE.finditer(text):
        epoch, seen, total = int(m["epoch"]), int(m["seen"]), int(m["total"])
        if last_epoch is not None and epoch != last_epoch:
            offset += last_total
        last_epoch, last_total = epoch, total
        out.append({"epoch": epoch, "samples_seen": offset + seen, "lr": float(m["lr"]), "loss": float(m["loss"])})
    return out


def clip_loss_curve(log_paths: Sequence[str | Path], out_png, title: str = "") -> list[dict]:
    """CLIP contrastive loss and learning rate over samples seen, from open_clip_train logs."""
    records = []
    for p in log_paths:
        if Path(p).exists():
            records = parse_open_clip_log(Path(p).read_text(errors="replace"))
            if records:
                break
    fig = _figure(7, 4)
    ax = fig.add_subplot()
    if records:
        x = [r["samples_seen"] for r in records]
        ax.plot(x, [r["loss"] for r in records], color=COLORS[0], marker="o" if len(x) < 40 else None,
                markersize=3, label="contrastive loss")
        ax.set_ylabel("contrastive loss (nats)")
        lax = ax.twinx()
        lax.plot(x, [r["lr"] for r in records], color=COLORS[1], linestyle="--", label="learning rate")
        lax.set_ylabel("learning rate")
        lax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        lines = ax.get_legend_handles_labels()
        lines2 = lax.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper right")
    else:
        ax.text(0.5, 0.5, "no open_clip_train log lines found", transform=ax.transAxes, ha="center")
        ax.set_ylabel("contrastive loss (nats)")
    ax.set_xlabel("samples seen")
    _count_axis(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.set_title(_wrap(title, 80), fontsize=10)
    _save(fig, out_png)
    return records


# ---- pool -----------------------------------------------------------------------------------


def download_chart(report: Mapping, out_png, composition: Mapping[str, tuple[int, int]] | None = None) -> None:
    """Download outcome per kind (successes and each failure kind) and, when the pool has a known
    composition (the tiny world's truth), samples per kind in the metadata and after download."""
    fig = _figure(11 if composition else 6, 4.2)
    axes = fig.subplots(1, 2 if composition else 1, squeeze=False, width_ratios=[1, 1.4] if composition else [1])[0]
    ax = axes[0]
    kinds = {"success": int(report.get("success", 0)), **{k: int(v) for k, v in (report.get("failures_by_kind") or {}).items()}}
    names = list(kinds)
    y = np.arange(len(names))[::-1]
    ax.barh(y, [kinds[k] for k in names], color=[COLORS[2]] + [COLORS[1]] * (len(names) - 1))
    for yi, k in zip(y, names):
        ax.text(kinds[k], yi, f" {kinds[k]:,}", va="center", fontsize=8)
    ax.set_yticks(y, [k.replace("_", " ") for k in names])
    ax.set_xlabel("samples")
    _count_axis(ax.xaxis)
    ax.set_xlim(0, max(kinds.values() or [1]) * 1.25)
    total = int(report.get("total", sum(kinds.values())))
    ax.set_title(f"download outcome ({total:,} URLs, {report.get('success_rate', 0):.1%} success)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if composition:
        cax = axes[1]
        names = list(composition)
        y = np.arange(len(names))[::-1].astype(float)
        meta = [composition[k][0] for k in names]
        got = [composition[k][1] for k in names]
        cax.barh(y + 0.2, meta, height=0.4, color=COLORS[0], label="in the metadata")
        cax.barh(y - 0.2, got, height=0.4, color=COLORS[4], label="downloaded (in the pool index)")
        cax.set_yticks(y, [k.replace("_", " ") for k in names])
        cax.set_xlabel("samples")
        _count_axis(cax.xaxis)
        cax.set_title("pool composition per kind (ground truth)", fontsize=10)
        cax.grid(axis="x", alpha=0.3)
        cax.legend(fontsize=8, loc="lower right")
    _save(fig, out_png)


def score_chart(scores: Mapping[str, np.ndarray], out_png, kinds: np.ndarray | None = None, title: str = "") -> None:
    """Distribution of each score column; with ground-truth kinds, one histogram per kind (filter quality)."""
    cols = list(scores)
    fig = _figure(5.5 * len(cols), 4)
    axes = fig.subplots(1, len(cols), squeeze=False)[0]
    for ax, c in zip(axes, cols):
        x = np.asarray(scores[c], dtype=np.float64)
        finite = np.isfinite(x)
        if not finite.any():
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center")
            continue
        lo, hi = np.quantile(x[finite], [0.0, 1.0])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 41)
        if kinds is not None:
            for j, k in enumerate(sorted(set(kinds.tolist()))):
                sel = finite & (kinds == k)
                ax.hist(x[sel], bins=bins, histtype="step", linewidth=1.4, color=COLORS[j % len(COLORS)],
                        label=f"{k} ({int(sel.sum()):,})")
            ax.legend(fontsize=7, title="kind (samples)", title_fontsize=7)
        else:
            ax.hist(x[finite], bins=bins, color=COLORS[0])
        ax.set_xlabel(f"{c} value (higher = kept first)")
        ax.set_ylabel("samples per bin")
        _count_axis(ax.yaxis)
        ax.grid(alpha=0.3)
    fig.suptitle(_wrap(title, 100), fontsize=10)
    _save(fig, out_png)


# ---- evaluation -----------------------------------------------------------------------------


def eval_chart(rows: Sequence[Sequence], aggregates: Mapping[str, float], out_png, title: str = "") -> None:
    """Per-task main metric as horizontal bars coloured by task group, aggregates as dashed lines.

    ``rows`` are ``[task key, group, dataset name, main metric]``, optionally with the metric's
    standard error fifth (drawn as an error bar); tasks without a main metric (DataComp's unscored
    ones) are left out.
    """
    rows = [r for r in rows if not math.isnan(_num(r[3]))]
    groups = list(dict.fromkeys(r[1] for r in rows))
    gcolor = {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups)}
    fig = _figure(8, max(3.0, 1.4 + 0.26 * len(rows)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    ses = [_num(r[4]) if len(r) > 4 else math.nan for r in rows]
    has_se = any(not math.isnan(v) for v in ses)
    ax.barh(y, [_num(r[3]) for r in rows], color=[gcolor[r[1]] for r in rows], height=0.7,
            xerr=[0.0 if math.isnan(v) else v for v in ses] if has_se else None,
            error_kw={"ecolor": "#333333", "elinewidth": 1, "capsize": 2})
    ax.set_yticks(y, [_wrap(str(r[2] or r[0]), 40) for r in rows], fontsize=8)
    for g in groups:  # one legend entry per group
        ax.barh([np.nan], [np.nan], color=gcolor[g], label=g or "(no group)")
    for j, key in enumerate(("ImageNet", "Average")):
        v = _num(aggregates.get(key))
        if not math.isnan(v):
            ax.axvline(v, color="#333333", linestyle="--" if j else ":", linewidth=1, label=f"{key} = {v:.3f}")
    ax.set_xlabel("main metric (accuracy or mean recall@1, 0–1)" + ("; bars ± 1 standard error" if has_se else ""))
    ax.set_xlim(0, 1)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, title="task group", title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(_wrap(title, 80), fontsize=10)
    _save(fig, out_png)
    return fig


# ---- filter quality ---------------------------------------------------------------------------


def composition_chart(rows: Sequence[tuple[str, Mapping[str, int]]], out_png, title: str = "") -> None:
    """Each subset's make-up by ground-truth kind (repeats counted) as 100% stacked horizontal bars.

    ``rows`` are ``(label, {kind: samples})``; the first row is usually the pool itself.
    """
    kinds = sorted({k for _, c in rows for k in c}, key=lambda k: (k != "clean", k))
    fig = _figure(10, max(2.6, 1.5 + 0.42 * len(rows)))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    left = np.zeros(len(rows))
    totals = np.array([max(1, sum(c.values())) for _, c in rows], dtype=float)
    for j, k in enumerate(kinds):
        frac = np.array([c.get(k, 0) for _, c in rows]) / totals
        ax.barh(y, frac, left=left, color=COLORS[j % len(COLORS)], label=k.replace("_", " "), height=0.7)
        if k == "clean":
            for yi, f in zip(y, frac):
                ax.text(0.01, yi, f"clean {f:.0%}", va="center", fontsize=8, color="white")
        left += frac
    sizes = [sum(c.values()) for _, c in rows]  # an empty subset says 0 (totals are >= 1 only to divide)
    ax.set_yticks(y, [_wrap(f"{lab} ({int(t):,})", 30) for (lab, _), t in zip(rows, sizes)], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of the subset's samples, repeats counted")
    ax.legend(fontsize=8, title="ground-truth kind", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(_wrap(title, 90), fontsize=10)
    _save(fig, out_png)
