"""Config ``rows_only``: a run builds only the rows it names (a claims run: the rows its claims compare)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clipcurate.config.errors import ConfigError
from clipcurate.config.rows_only import DATA_QUALITY_FILE, restrict_points, restrict_tables
from clipcurate.report.claims_runs import claimed_rows, seeded

REPO = Path(__file__).resolve().parents[2]


def _tables():
    return {"t": {"rows": [{"recipe": "a", "label": "A"}, {"recipe": "b", "label": "B"}, {"recipe": "c", "label": "C"}],
                  "columns": ["ImageNet"]},
            "u": {"rows": [{"recipe": "d", "label": "D"}], "columns": ["ImageNet"]}}


def test_named_tables_keep_only_their_rows_in_table_order():
    config = {"tables": _tables(), "rows_only": {"t": ["C", "A"]}}
    restrict_tables(config)
    assert [r["label"] for r in config["tables"]["t"]["rows"]] == ["A", "C"]
    assert [r["label"] for r in config["tables"]["u"]["rows"]] == ["D"]  # not named: unchanged


def test_without_rows_only_nothing_changes():
    for only in (None, {}):
        config = {"tables": _tables(), "rows_only": only}
        restrict_tables(config)
        assert config["tables"] == _tables()


def test_an_unknown_table_or_row_is_an_error_naming_it():
    with pytest.raises(ConfigError, match=r"rows_only.t: \['Z'\] are not rows of table 't'; rows: \['A', 'B', 'C'\]"):
        restrict_tables({"tables": _tables(), "rows_only": {"t": ["A", "Z"]}})
    with pytest.raises(ConfigError, match=r"rows_only.nope: not a table"):
        restrict_tables({"tables": _tables(), "rows_only": {"nope": ["A"]}})
    with pytest.raises(ConfigError, match="no dfn_quality block"):
        restrict_tables({"tables": _tables(), "rows_only": {DATA_QUALITY_FILE: ["x (seed 0)"]}})


def test_data_quality_points_are_kept_by_their_csv_label():
    points = [{"name": "q0", "label": "0% of HQ replaced", "seed": 0}, {"name": "q1", "label": "100% of HQ replaced", "seed": 0},
              {"name": "q0b", "label": "0% of HQ replaced", "seed": 1}]
    assert restrict_points({}, points) == points
    kept = restrict_points({"rows_only": {DATA_QUALITY_FILE: ["0% of HQ replaced (seed 1)", "100% of HQ replaced (seed 0)"]}}, points)
    assert [p["name"] for p in kept] == ["q1", "q0b"]
    with pytest.raises(ConfigError, match=r"\['5% of HQ replaced \(seed 0\)'\] are not points"):
        restrict_points({"rows_only": {DATA_QUALITY_FILE: ["5% of HQ replaced (seed 0)"]}}, points)


def test_claimed_rows_are_both_sides_of_every_claim_once():
    claims = [{"claim": "1", "table": "t", "better": "A", "worse": "B", "metric": "ImageNet"},
              {"claim": "2", "table": "t", "better": "A", "worse": "C", "metric": "Average"},
              {"claim": "3", "file": DATA_QUALITY_FILE, "better": "x (seed 0)", "worse": "y (seed 0)", "metric": "dfn_imagenet"}]
    assert claimed_rows(claims) == {DATA_QUALITY_FILE: ["x (seed 0)", "y (seed 0)"], "t": ["A", "B", "C"]}
    assert seeded({}, 2, claimed_rows(claims[:1])) == {"seed": 2, "world": {"seed": 2}, "rows_only": {"t": ["A", "B"]}}


def _dry_run(tmp_path, config, targets):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", *targets, "--cores", "1", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(cfg)], capture_output=True, text=True)


def test_a_restricted_plan_trains_only_the_kept_rows_and_points(tmp_path):
    """Planned by Snakemake on the shipped config: table1 without its CLIP-score row, and two of the
    data-quality experiment's points, train only those rows' and points' models."""
    config = {"rows_only": {"table1": ["No filtering", "Ground-truth clean"],
                            DATA_QUALITY_FILE: ["0% of HQ replaced (seed 0)", "100% of HQ replaced (seed 0)"]}}
    proc = _dry_run(tmp_path, config, ["results/tables/table1.csv", DATA_QUALITY_FILE])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for wanted in ("results/train/no_filter/", "results/train/gt_clean/", "results/models/dfn_q000_s0/", "results/models/dfn_q100_s0/"):
        assert wanted in out, wanted
    for unwanted in ("results/train/clip_score_top30/", "results/models/dfn_q050_s0/", "results/models/dfn_noisy_long_s0/"):
        assert unwanted not in out, unwanted


def test_a_row_no_table_has_fails_at_planning_time(tmp_path):
    proc = _dry_run(tmp_path, {"rows_only": {"table1": ["No filtering", "CLIP scor"]}}, ["results/tables/table1.csv"])
    assert proc.returncode != 0
    assert "rows_only.table1: ['CLIP scor'] are not rows of table 'table1'" in proc.stdout + proc.stderr


def test_the_filter_quality_report_reads_only_the_named_scores(tmp_path):
    config = {"rows_only": {"results/reports/score_quality.csv": ["clip_score", "clip_score_hflip", "clip_score_top30"]}}
    proc = _dry_run(tmp_path, config, ["results/reports/score_quality.csv"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for wanted in ("results/scores/clip_score.parquet", "results/scores/clip_score_hflip.parquet",
                   "results/subsets/clip_score_top30.parquet"):
        assert wanted in out, wanted
    for unwanted in ("results/scores/dfn.parquet", "results/scores/tmars.parquet", "results/subsets/clip_score_top20.parquet"):
        assert unwanted not in out, unwanted
    bad = _dry_run(tmp_path, {"rows_only": {"results/reports/score_quality.csv": ["clip_scor"]}}, ["results/reports/score_quality.csv"])
    assert bad.returncode != 0 and "['clip_scor'] are neither scores" in bad.stdout + bad.stderr
