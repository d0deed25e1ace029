"""Standard errors of evaluation results and their display: hand-computed cases, a simulation of the
binomial formula, the Markdown/CSV rendering and the charts' error bars read from matplotlib."""

import csv
import io as _io
import json
import math
import tarfile

import numpy as np
import pyarrow as pa
import pytest

from clipcurate.evaluate import datacomp_tasks
from clipcurate.core import scorefiles
from clipcurate.report import plots, uncertainty
from clipcurate.evaluate.run import datacomp_line
from clipcurate.report.tables import build_table, row_values, to_csv, to_markdown
from clipcurate.report.html import table_html
from clipcurate.report.tables import fold_se

SUITE = {"tasks": [
    {"key": "in", "name": "IN", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet"},
    {"key": "s1", "name": "S1", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet dist. shifts"},
    {"key": "s2", "name": "S2", "task": "zeroshot_classification", "main_metric": "acc1", "group": "ImageNet dist. shifts"},
    {"key": "v1", "name": "V1", "task": "zeroshot_classification", "main_metric": "MPCR", "group": "VTAB"},
    {"key": "r1", "name": "R1", "task": "zeroshot_retrieval", "main_metric": "mean_recall@1", "group": "Retrieval"},
    {"key": "u", "name": "U", "task": "zeroshot_classification", "main_metric": None, "group": "Other"},
]}


def _lines(n=(400, 100, 100, 200, 50)):
    t = SUITE["tasks"]
    return [
        datacomp_line(t[0], {"acc1": 0.3}, n[0]),
        datacomp_line(t[1], {"acc1": 0.2}, n[1]),
        datacomp_line(t[2], {"acc1": 0.5}, n[2]),
        datacomp_line(t[3], {"acc1": 0.9, "mean_per_class_recall": 0.4}, n[3]),
        datacomp_line(t[4], {"image_retrieval_recall@1": 0.1, "text_retrieval_recall@1": 0.3}, n[4]),
        datacomp_line(t[5], {"acc1": 0.0}, 10),
    ]


def test_binomial_se_hand_computed_and_edge_cases():
    assert uncertainty.binomial_se(0.3, 400) == pytest.approx(0.0229129, abs=1e-7)  # sqrt(0.21 / 400)
    assert uncertainty.binomial_se(0.0, 50) == 0.0 and uncertainty.binomial_se(1.0, 50) == 0.0
    for p, n in ((0.3, None), (0.3, 0), (1.5, 10), (None, 10)):
        assert math.isnan(uncertainty.binomial_se(p, n))


def test_binomial_se_matches_simulated_test_sets():
    """The spread of accuracies over many simulated test sets of n images is the formula's SE."""
    rng = np.random.default_rng(0)
    acc = rng.binomial(400, 0.3, size=20000) / 400
    assert acc.std() == pytest.approx(uncertainty.binomial_se(0.3, 400), rel=0.03)


def test_jsonl_lines_record_counts_and_their_standard_errors():
    lines = _lines()
    assert lines[0]["num_samples"] == 400
    assert lines[0]["metrics"]["main_metric_se"] == pytest.approx(math.sqrt(0.3 * 0.7 / 400))
    # MPCR: the binomial formula on the main metric (0.4), not on acc1
    assert lines[3]["metrics"]["main_metric_se"] == pytest.approx(math.sqrt(0.4 * 0.6 / 200))
    # retrieval: (se(0.1, 50) + se(0.3, 50)) / 2 = (0.042426 + 0.064807) / 2
    assert lines[4]["metrics"]["main_metric_se"] == pytest.approx(0.0536166, abs=1e-6)
    assert lines[5]["metrics"]["main_metric_se"] is None  # unscored
    json.dumps(lines)


def test_aggregate_se_is_the_se_of_a_mean_of_independent_tasks():
    se = uncertainty.aggregate_se(_lines(), SUITE)
    s = {"in": math.sqrt(0.21 / 400), "s1": math.sqrt(0.16 / 100), "s2": math.sqrt(0.25 / 100),
         "v1": math.sqrt(0.24 / 200), "r1": 0.5 * (math.sqrt(0.09 / 50) + math.sqrt(0.21 / 50))}
    assert se["ImageNet"] == pytest.approx(s["in"])
    assert se["ImageNet dist. shifts"] == pytest.approx(math.sqrt(0.0016 + 0.0025) / 2)  # 0.032016
    assert se["ImageNet dist. shifts"] == pytest.approx(0.0320156, abs=1e-6)
    assert se["Retrieval"] == pytest.approx(s["r1"])
    assert se["Average"] == pytest.approx(math.sqrt(sum(v * v for v in s.values())) / 5)


def test_worst_group_se_uses_the_worst_groups_count():
    task = {"key": "fairness/geode", "main_metric": "acc_wg"}
    correct = np.array([1] * 6 + [0] * 4 + [1] * 10 + [0] * 40)  # group 0: 6/10, group 1: 10/50
    groups = np.array([0] * 10 + [1] * 50)
    metrics = datacomp_tasks.group_eval(correct, groups, "acc", field="region")
    metrics["main_metric"] = metrics["acc_wg"]
    assert metrics["acc_wg"] == pytest.approx(0.2)
    assert uncertainty.task_se(task, metrics, 60) == pytest.approx(math.sqrt(0.2 * 0.8 / 50))
    fmow = {"key": "wilds/fmow", "main_metric": "acc_worst_region"}
    m = {"acc_region:0": 0.5, "count_region:0": 8, "acc_year:1": 0.5, "count_year:1": 2, "main_metric": 0.5}
    assert uncertainty.task_se(fmow, m, 10) == pytest.approx(math.sqrt(0.25 / 8))  # the region, not the year
    assert math.isnan(uncertainty.task_se({"key": "wilds/iwildcam", "main_metric": "F1-macro_all"},
                                          {"main_metric": 0.3}, 100))


def test_winogavil_writes_its_own_standard_error():
    five = (np.array([0.9, 0.1, 0.2, 0.8, 0.3]), np.array([1, 0, 1, 0, 0], bool))  # jaccard 1/3
    ten = (np.arange(10.0), np.array([0] * 8 + [1, 1], bool))  # jaccard 1
    out = datacomp_tasks.winogavil_scores([five, ten])
    assert out["avg_jaccard_score_se"] == pytest.approx(np.std([1 / 3, 1], ddof=1) / math.sqrt(2))
    assert math.isnan(out["jaccard_score_10-12_se"])  # one instance: no spread to estimate
    task = {"key": "misc/winogavil", "main_metric": "avg_jaccard_score"}
    assert uncertainty.task_se(task, {**out, "main_metric": out["avg_jaccard_score"]}, None) == pytest.approx(1 / 3)


def test_test_set_size_counts_samples_in_the_shards(tmp_path):
    d = tmp_path / "task" / "test"
    d.mkdir(parents=True)
    sizes = [3, 2]
    for s, k in enumerate(sizes):
        with tarfile.open(d / f"{s}.tar", "w") as tar:
            for i in range(k):
                for ext in ("jpg", "cls"):
                    data = b"x"
                    info = tarfile.TarInfo(f"s{s}_{i:04d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, _io.BytesIO(data))
    (d / "nshards.txt").write_text("2\n")
    assert uncertainty.count_test_samples(tmp_path / "task") == 5
    with pytest.raises(FileNotFoundError, match="nshards.txt"):
        uncertainty.count_test_samples(tmp_path / "nothing")


TABLE = {"title": "t", "columns": ["ImageNet", "Average", "dataset size"],
         "rows": [{"recipe": "a", "label": "A"}, {"recipe": "b", "label": "B"}]}
VALUES = {"a": {"ImageNet": 0.2675, "ImageNet_se": 0.02214, "Average": 0.31, "Average_se": 0.0061, "dataset size": 900},
          "b": {"ImageNet": 0.2625, "ImageNet_se": 0.022, "Average": 0.30, "Average_se": math.nan, "dataset size": 800}}


def test_markdown_and_csv_show_each_value_with_its_standard_error():
    header, body = build_table(TABLE, VALUES, show_reported=False)
    assert header == ["method", "ImageNet", "Average", "dataset size", "ImageNet_se", "Average_se"]
    md = to_markdown(header, body, "t")
    assert "| A | 0.268 ± 0.022 | 0.310 ± 0.006 | 900 |" in md
    assert "| B | 0.263 ± 0.022 | 0.3000 | 800 |" in md  # no SE: the value alone
    assert "_se" not in md
    rows = list(csv.DictReader(_io.StringIO(to_csv(header, body))))
    assert rows[0]["ImageNet_se"] == "0.0221" and rows[1]["Average_se"] == ""
    page = table_html(*fold_se(header, body), "t")
    assert '<td class="num">0.268 ± 0.022</td>' in page and "Average_se" not in page


def test_row_values_of_an_old_file_without_counts_warns_and_has_no_se(tmp_path):
    subset = tmp_path / "a.parquet"
    scorefiles.write_subset(subset, None, pa.array(["0" * 32, "1" * 32]), np.array([1, 2]))
    new, old = tmp_path / "new.jsonl", tmp_path / "old.jsonl"
    new.write_text("".join(json.dumps(l) + "\n" for l in _lines()))
    old.write_text("".join(json.dumps({k: v for k, v in l.items() if k != "num_samples"}) + "\n" for l in _lines()))
    warnings = []
    v = row_values("a", new, subset, SUITE, ["ImageNet", "s1", "dataset size"], warn=warnings.append)
    assert v["ImageNet_se"] == pytest.approx(math.sqrt(0.21 / 400)) and v["s1_se"] == pytest.approx(0.04)
    assert v["dataset size"] == 2 and "dataset size_se" not in v and not warnings
    v = row_values("a", old, subset, SUITE, ["ImageNet", "Average"], warn=warnings.append)
    assert v["ImageNet"] == 0.3 and math.isnan(v["ImageNet_se"]) and math.isnan(v["Average_se"])
    assert len(warnings) == 1 and str(old) in warnings[0] and "num_samples" in warnings[0] and "rerun" in warnings[0]


def _xerr_half_widths(container):
    """Half-widths of a horizontal bar container's error bars, from its LineCollection."""
    segs = container.errorbar.lines[2][0].get_segments()
    return [(s[1][0] - s[0][0]) / 2 for s in segs], [(s[1][0] + s[0][0]) / 2 for s in segs]


def test_bar_chart_error_bars_are_the_standard_errors(tmp_path):
    header, body = build_table(TABLE, VALUES, show_reported=False)
    fig = plots.table_chart(TABLE, header, body, tmp_path / "t.png", name="t")
    ax = fig.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "errorbar")]
    assert [c.get_label() for c in bars] == ["ImageNet", "Average"]
    half, centre = _xerr_half_widths(bars[0])
    assert half == pytest.approx([0.02214, 0.022]) and centre == pytest.approx([0.2675, 0.2625])
    half, _ = _xerr_half_widths(bars[1])
    assert half == pytest.approx([0.0061, 0.0])  # B has no SE: no bar
    assert "standard error" in ax.get_xlabel()


def test_bar_chart_without_standard_errors_has_no_error_bars(tmp_path):
    values = {r: {k: v for k, v in vals.items() if not k.endswith("_se")} for r, vals in VALUES.items()}
    header, body = build_table(TABLE, values, show_reported=False)
    fig = plots.table_chart(TABLE, header, body, tmp_path / "t.png", name="t")
    assert all(c.errorbar is None for c in fig.axes[0].containers if hasattr(c, "errorbar"))


def test_line_chart_error_bars_are_the_standard_errors(tmp_path):
    cfg = {"title": "f3", "columns": ["ImageNet", "Average", "dataset size"], "plot": {"kind": "lines"},
           "rows": [{"recipe": "a", "label": "A"}, {"recipe": "b", "label": "B"}]}
    recipes = {"a": {"sample": {"method": "scs", "alpha": 0.1}}, "b": {"sample": {"method": "scs", "alpha": 0.2}}}
    header, body = build_table(cfg, VALUES, show_reported=False)
    fig = plots.table_chart(cfg, header, body, tmp_path / "f3.png", recipes, name="f3")
    ax = fig.axes[0]  # ImageNet panel; points sorted by dataset size: b (800), a (900)
    (eb,) = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    segs = eb.lines[2][0].get_segments()
    assert [s[0][0] for s in segs] == [800, 900]
    assert [(s[1][1] - s[0][1]) / 2 for s in segs] == pytest.approx([0.022, 0.02214])


def test_eval_chart_error_bars(tmp_path):
    rows = [["in", "ImageNet", "IN", 0.3, 0.023], ["r1", "Retrieval", "R1", 0.2, math.nan], ["u", "Other", "U", None, None]]
    fig = plots.eval_chart(rows, {"ImageNet": 0.3, "Average": 0.25}, tmp_path / "e.png")
    (bars,) = [c for c in fig.axes[0].containers if getattr(c, "errorbar", None) is not None]
    half, centre = _xerr_half_widths(bars)
    assert half == pytest.approx([0.023, 0.0]) and centre == pytest.approx([0.3, 0.2])
