"""The list of a table's figures (clipcurate.report.figure_list, rule table_figures)."""

import pytest

from clipcurate.report.figure_list import figure_lines, write_figure_list


def test_lines_keep_group_order_and_list_each_path_once():
    groups = {"pool": "f/pool.png", "scores": ["f/s/a.png", "f/s/b.png"], "train": [], "again": ["f/s/a.png", "f/t.png"]}
    assert figure_lines(groups) == ["pool\tf/pool.png", "scores\tf/s/a.png", "scores\tf/s/b.png", "again\tf/t.png"]


def test_write_lists_existing_figures_and_refuses_a_missing_one(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "b.html").write_text("<p>")
    out = tmp_path / "figs" / "table1.txt"
    assert write_figure_list({"pool": str(tmp_path / "a.png"), "eval": [str(tmp_path / "b.html")]}, out) == 2
    assert out.read_text() == f"pool\t{tmp_path / 'a.png'}\neval\t{tmp_path / 'b.html'}\n"
    with pytest.raises(FileNotFoundError, match=r"table2.txt: figures listed but missing: .*c.png"):
        write_figure_list({"pool": str(tmp_path / "a.png"), "scores": [str(tmp_path / "c.png")]},
                          tmp_path / "table2.txt")
    assert not (tmp_path / "table2.txt").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["table1.txt"]  # no temp file left behind
