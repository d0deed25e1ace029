"""Report helpers: figures (parsed inputs, and what each figure draws, read from its matplotlib
objects: bars, lines, panels, labels and values), HTML tables, progress lines in logs."""

import base64
import io as _io
import math
import re

import numpy as np
import pytest
from PIL import Image

from clipcurate.report import plots
from clipcurate.core.progress import progress
from clipcurate.report.html import table_html
from clipcurate.report.tables import build_table, to_csv
from tests.figures import bars, lefts, legend_labels, lines, same, texts, yticklabels

OPEN_CLIP_LOG = """\
2026-12-01,11:01:17 | INFO | Running with a single process. Device cpu.
2026-12-01,11:01:18 | INFO | Train Epoch: 0 [  128/1000 (13%)] Data (t): 0.289 Batch (t): 0.663, 193.153/s, 193.153/s/gpu LR: 0.000400 Logit Scale: 14.286 Contrastive_loss: 5.2821 (5.2821) Loss: 5.2821 (5.2821)
2026-12-01,11:01:25 | INFO | Train Epoch: 0 [ 1000/1000 (100%)] Data (t): 0.202 Batch (t): 0.324, 426.460/s, 426.460/s/gpu LR: 0.001869 Logit Scale: 14.113 Contrastive_loss: 4.8475 (5.0648) Loss: 4.8475 (5.0648)
2026-12-01,11:01:30 | INFO | Train Epoch: 1 [  128/1000 (13%)] Data (t): 0.141 Batch (t): 0.247, 438.947/s, 438.947/s/gpu LR: 0.001355 Logit Scale: 14.125 Contrastive_loss: 4.6444 (4.9247) Loss: 4.6444 (4.9247)
"""


def png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_open_clip_log_is_parsed_with_cumulative_samples_seen():
    recs = plots.parse_open_clip_log(OPEN_CLIP_LOG)
    # epoch 1 restarts its counter: 128 samples into the second epoch of 1000 are 1128 seen
    assert [r["samples_seen"] for r in recs] == [128, 1000, 1128]
    assert [r["loss"] for r in recs] == [5.2821, 4.8475, 4.6444]  # the current loss, not the running mean
    assert [r["lr"] for r in recs] == [0.0004, 0.001869, 0.001355]


def test_clip_loss_curve_png(tmp_path, drawn):
    log = tmp_path / "out.log"
    log.write_text(OPEN_CLIP_LOG)
    recs = plots.clip_loss_curve([tmp_path / "missing.log", log], tmp_path / "c.png", title="t")
    assert len(recs) == 3 and png_size(tmp_path / "c.png") == (700, 400)
    (fig, _), = drawn
    ax, lax = fig.axes  # the loss, and the learning rate on a twin axis
    assert lines(ax) == {"contrastive loss": ([128, 1000, 1128], [5.2821, 4.8475, 4.6444])}
    assert lines(lax) == {"learning rate": ([128, 1000, 1128], [0.0004, 0.001869, 0.001355])}
    assert ax.get_xlabel() == "samples seen" and ax.get_title() == "t"
    assert legend_labels(ax) == ["contrastive loss", "learning rate"]
    plots.clip_loss_curve([tmp_path / "missing.log"], tmp_path / "e.png")
    empty = drawn[1][0].axes[0]
    assert lines(empty) == {} and texts(empty) == ["no open_clip_train log lines found"]


FIG3 = {
    "title": "sweep",
    "columns": ["ImageNet", "Average", "dataset size"],
    "plot": {"kind": "lines"},
    "rows": [
        {"recipe": "scs2", "label": "SCS 0.2"}, {"recipe": "thr10", "label": "T 10"},
        {"recipe": "scs1", "label": "SCS 0.1"}, {"recipe": "nocap", "label": "No cap"},
    ],
}
RECIPES = {
    "scs1": {"sample": {"method": "scs", "alpha": 0.1}}, "scs2": {"sample": {"method": "scs", "alpha": 0.2}},
    "thr10": {"sample": {"method": "threshold", "fraction": 0.1}}, "nocap": {"sample": {"method": "nocap"}},
}
VALUES = {
    "scs1": {"ImageNet": 0.31, "Average": 0.30, "dataset size": 900},
    "scs2": {"ImageNet": 0.33, "Average": 0.32, "dataset size": 500},
    "thr10": {"ImageNet": 0.28, "Average": 0.29, "dataset size": 800},
    "nocap": {"ImageNet": 0.25, "Average": 0.26, "dataset size": 300},
}


def test_figure3_series_group_rows_by_sampler_sorted_by_dataset_size(tmp_path, drawn):
    header, body = build_table(FIG3, VALUES, show_reported=False)
    x, panels, series = plots.sampler_series(FIG3, header, body, RECIPES, "figure3")
    assert x == "dataset size" and panels == ["ImageNet", "Average"]
    assert list(series) == ["scs", "threshold", "nocap"]
    # SCS alpha=0.2 has the smaller subset, so it comes first along the x axis
    assert [(p[0], p[1]["ImageNet"], p[2]) for p in series["scs"]] == [(500, 0.33, "α=0.2"), (900, 0.31, "α=0.1")]
    assert series["threshold"][0][2] == "10%" and series["nocap"][0][2] == ""
    plots.table_chart(FIG3, header, body, tmp_path / "f3.png", RECIPES, name="figure3")
    assert png_size(tmp_path / "f3.png") == (1040, 440)  # two panels
    (fig, _), = drawn
    assert [ax.get_title() for ax in fig.axes] == ["ImageNet", "Average"]
    assert fig.get_suptitle() == "figure3: sweep"
    for ax, panel in zip(fig.axes, ["ImageNet", "Average"]):
        drawn_lines = lines(ax)
        assert list(drawn_lines) == ["SCS", "Threshold", "No cap"]  # one line per sampler
        for method, name in (("scs", "SCS"), ("threshold", "Threshold"), ("nocap", "No cap")):
            rows = sorted((r for r in FIG3["rows"] if RECIPES[r["recipe"]]["sample"]["method"] == method),
                          key=lambda r: VALUES[r["recipe"]]["dataset size"])
            assert drawn_lines[name] == ([VALUES[r["recipe"]]["dataset size"] for r in rows],
                                         [VALUES[r["recipe"]][panel] for r in rows])
        assert sorted(texts(ax)) == ["10%", "α=0.1", "α=0.2"]  # each point's sampler parameter
        assert ax.get_xlabel() == "dataset size (samples)" and ax.get_ylabel() == f"{panel} accuracy (fraction)"
    assert legend_labels(fig.axes[1]) == ["SCS", "Threshold", "No cap"]


def test_figure3_unknown_plot_column_names_the_table():
    cfg = {**FIG3, "plot": {"kind": "lines", "panels": ["VTAB"]}}
    header, body = build_table(cfg, VALUES, show_reported=False)
    with pytest.raises(KeyError, match="table 'figure3': plot column 'VTAB'"):
        plots.sampler_series(cfg, header, body, RECIPES, "figure3")


def test_bar_chart_with_reported_numbers(tmp_path, drawn):
    cfg = {"title": "t", "columns": ["ImageNet", "Average", "dataset size"],
           "rows": [{"recipe": "a", "label": "A"}, {"recipe": "b", "label": "B"}],
           "reported": {"A": {"ImageNet": 0.3}}}
    header, body = build_table(cfg, {"a": VALUES["scs1"], "b": VALUES["scs2"]}, show_reported=True)
    assert header[-1] == "ImageNet (paper)"
    plots.table_chart(cfg, header, body, tmp_path / "t.png", name="t")
    w, h = png_size(tmp_path / "t.png")
    assert w == 1000 and h >= 280
    (fig, _), = drawn
    ax, cax = fig.axes  # accuracies, and the sample counts on their own axis
    got = bars(ax)
    assert list(got) == ["ImageNet", "ImageNet (paper)", "Average"]  # the paper's bar beside the reproduced one
    assert got["ImageNet"] == [0.31, 0.33] and got["Average"] == [0.30, 0.32]
    assert same(got["ImageNet (paper)"], [0.3, float("nan")])  # B has no reported number: no bar
    assert [p.get_hatch() for p in ax.containers[1].patches] == ["///", "///"]
    assert list(bars(cax).values()) == [[900, 500]]
    assert yticklabels(ax) == ["A", "B"] and fig.get_suptitle() == "t: t"
    assert ax.get_xlim()[1] == pytest.approx(0.33 * 1.15)


def test_flyt_curves_and_download_chart(tmp_path, drawn):
    info = {"inputs": ["clip_score", "eflyt"], "history": [
        {"step": s, "upstream_loss": 3.0 - 0.1 * s, "downstream_loss": 2.0 - 0.05 * s, "mixer_weights": [0.1 * s, -0.05 * s]}
        for s in range(5)]}
    plots.flyt_curves(info, tmp_path / "f.png", title="mflyt")
    assert png_size(tmp_path / "f.png") == (1000, 400)  # losses + mixer weights
    steps = [0, 1, 2, 3, 4]
    loss_ax, weight_ax = drawn[0][0].axes
    got = lines(loss_ax)
    assert list(got) == ["downstream loss", "upstream loss"]
    assert got["upstream loss"][0] == steps and same(got["upstream loss"][1], [3.0 - 0.1 * s for s in steps])
    assert same(got["downstream loss"][1], [2.0 - 0.05 * s for s in steps])
    got = lines(weight_ax)
    assert list(got) == ["clip_score (final 0.4)", "eflyt (final -0.2)"]  # one line per input score
    assert same(got["clip_score (final 0.4)"][1], [0.1 * s for s in steps])
    assert same(got["eflyt (final -0.2)"][1], [-0.05 * s for s in steps])
    assert drawn[0][0].get_suptitle() == "mflyt"
    info["history"] = [{k: v for k, v in h.items() if k != "mixer_weights"} for h in info["history"]]
    plots.flyt_curves(info, tmp_path / "e.png", title="eflyt")
    assert png_size(tmp_path / "e.png") == (600, 400)  # losses only
    (only,) = drawn[1][0].axes
    assert list(lines(only)) == ["downstream loss", "upstream loss"]
    report = {"total": 10, "success": 7, "success_rate": 0.7, "failures_by_kind": {"http_404": 2, "decode_failed": 1}}
    plots.download_chart(report, tmp_path / "d.png", {"clean": (5, 5), "failing_url": (3, 0), "misaligned": (2, 2)})
    assert png_size(tmp_path / "d.png") == (1100, 420)
    outcome, comp = drawn[2][0].axes
    assert list(bars(outcome).values()) == [[7, 2, 1]]
    assert yticklabels(outcome) == ["success", "http 404", "decode failed"]
    assert [p.get_y() for p in outcome.containers[0].patches] == sorted([p.get_y() for p in outcome.containers[0].patches], reverse=True)
    assert texts(outcome) == [" 7", " 2", " 1"] and outcome.get_title() == "download outcome (10 URLs, 70.0% success)"
    assert bars(comp) == {"in the metadata": [5, 3, 2], "downloaded (in the pool index)": [5, 0, 2]}
    assert yticklabels(comp) == ["clean", "failing url", "misaligned"]


def test_table_html_escapes_and_attaches_the_csv():
    header = ["method", "ImageNet", "dataset size", "ImageNet (paper)"]
    body = [["<b>A</b>", 0.25, 1200, 0.3], ["B & C", math.nan, 7, None]]
    csv_text = to_csv(header, body)
    page = table_html(header, body, "table9: x", ["note <1>"], csv_text, "table9.csv", "table9")
    assert "&lt;b&gt;A&lt;/b&gt;" in page and "B &amp; C" in page and "note &lt;1&gt;" in page
    assert '<table id="table9">' in page and "<td class=\"num\">0.2500</td>" in page and "1,200" in page
    assert '<th class=paper>ImageNet (paper)</th>' in page
    uri = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)" download="table9.csv"', page)
    assert base64.b64decode(uri.group(1)).decode() == csv_text


def test_progress_logs_lines_with_total_rate_and_eta():
    out = _io.StringIO()
    bar = progress(total=4, desc="embed chunk 3", unit="samples", stream=out)
    for _ in range(4):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) >= 2  # the start and the end, one line each
    assert lines[0].startswith("embed chunk 3:   0%") and "0/4" in lines[0]
    assert re.search(r"100%.*4/4 \[\d\d:\d\d<00:00, +[0-9.]+ ?[a-zA-Z]?samples/s\]", lines[-1]), lines[-1]


def test_composition_chart(tmp_path, drawn):
    rows = [("pool", {"clean": 6, "misaligned": 4}), ("CLIP top 30%", {"clean": 3}), ("empty", {})]
    plots.composition_chart(rows, tmp_path / "q.png", title="table1: subsets by kind")
    w, h = png_size(tmp_path / "q.png")
    assert w == 1000 and h >= 260
    (fig, _), = drawn
    (ax,) = fig.axes
    got = bars(ax)
    assert list(got) == ["clean", "misaligned"]  # clean first, then the other kinds
    assert same(got["clean"], [0.6, 1.0, 0.0]) and same(got["misaligned"], [0.4, 0.0, 0.0])
    assert same(lefts(ax, "misaligned"), [0.6, 1.0, 0.0])  # stacked after clean
    assert yticklabels(ax) == ["pool (10)", "CLIP top 30% (3)", "empty (0)"]  # samples per subset, repeats counted
    assert [t for t in ax.get_yticks()] == [2, 1, 0]  # first row at the top
    assert texts(ax) == ["clean 60%", "clean 100%", "clean 0%"] and ax.get_title() == "table1: subsets by kind"


def test_score_chart_histograms_per_kind(tmp_path, drawn):
    x = np.array([0.0, 0.1, 0.2, 0.9, 1.0, np.nan])
    kinds = np.array(["clean", "clean", "misaligned", "clean", "misaligned", "clean"])
    plots.score_chart({"clip": x, "other": np.full(3, np.nan)}, tmp_path / "s.png", kinds=kinds, title="scores")
    (fig, _), = drawn
    ax, empty = fig.axes
    polys = {p.get_label(): p for p in ax.patches}  # one step outline per kind
    assert sorted(polys) == ["clean (3)", "misaligned (2)"]  # finite samples per kind
    assert legend_labels(ax) == ["clean (3)", "misaligned (2)"]
    xy = polys["misaligned (2)"].get_xy()  # the outline rises to 1 sample at 0.2 and at 1.0 only
    assert sorted({round(float(x), 3) for x, y in xy if y == 1}) == [0.2, 0.225, 0.975, 1.0]
    assert ax.get_xlabel() == "clip value (higher = kept first)"
    assert texts(empty) == ["no finite values"]


def test_eval_chart_bars_per_task_and_aggregate_lines(tmp_path, drawn):
    rows = [["imagenet1k", "ImageNet", "imagenet1k", 0.5], ["cars", "VTAB", "cars", 0.25], ["x", "VTAB", "", math.nan]]
    plots.eval_chart(rows, {"ImageNet": 0.5, "Average": 0.375}, tmp_path / "e.png", title="r")
    (fig, _), = drawn
    (ax,) = fig.axes
    drawn_bars = list(bars(ax).values())
    assert drawn_bars[0] == [0.5, 0.25]  # the unscored task is left out
    assert yticklabels(ax) == ["imagenet1k", "cars"]
    assert [p.get_facecolor() for p in ax.containers[0].patches][0] != ax.containers[0].patches[1].get_facecolor()
    assert {k: v[0] for k, v in lines(ax).items()} == {"ImageNet = 0.500": [0.5, 0.5], "Average = 0.375": [0.375, 0.375]}
    assert legend_labels(ax) == ["ImageNet = 0.500", "Average = 0.375", "ImageNet", "VTAB"]


def test_flyt_curves_tell_twelve_inputs_apart(tmp_path, drawn):
    """M-FLYT's twelve inputs outnumber the palette: every line still has its own colour and style."""
    names = [f"in{i}" for i in range(12)]
    info = {"inputs": names, "history": [{"step": s, "upstream_loss": 1.0, "downstream_loss": 1.0,
                                          "mixer_weights": [0.01 * i * s for i in range(12)]} for s in range(3)]}
    plots.flyt_curves(info, tmp_path / "f.png", title="mflyt")
    weight_ax = drawn[0][0].axes[1]
    styles = [(ln.get_color(), ln.get_linestyle()) for ln in weight_ax.get_lines()]
    assert len(styles) == 12 and len(set(styles)) == 12
