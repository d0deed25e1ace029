"""Claims decided over runs only when a difference exceeds its uncertainty (hand-computed cases)."""

import csv
import io as _io
import math

import pytest

from clipcurate.report import claims
from clipcurate.report.tables import build_table, to_csv


def run(better, worse, se=0.01):
    return {"better": better, "se_better": se, "worse": worse, "se_worse": se}


def test_issue_example_is_not_decided():
    # FLYT Table 2 on world seed 0: M-FLYT 0.2675 vs Standardized Sum 0.2625, 400 test images each
    se = math.sqrt(0.2675 * 0.7325 / 400)
    d, s, v = claims.run_verdict(0.2675, se, 0.2625, math.sqrt(0.2625 * 0.7375 / 400))
    assert d == pytest.approx(0.005) and s == pytest.approx(0.03119, abs=1e-4) and v == 0
    assert claims.decide([run(0.2675, 0.2625, 0.022)])["verdict"] == claims.NOT_DECIDED


def test_run_verdict_threshold_is_z_standard_errors_of_the_difference():
    se = 0.01  # SE of the difference: sqrt(2) * 0.01 = 0.014142; 2 SE = 0.028284
    assert claims.run_verdict(0.33, se, 0.30, se)[2] == 1       # 0.03 > 0.0283
    assert claims.run_verdict(0.327, se, 0.30, se)[2] == 0      # 0.027 < 0.0283
    assert claims.run_verdict(0.327, se, 0.30, se, z=1.0)[2] == 1
    assert claims.run_verdict(0.27, se, 0.30, se)[2] == -1
    assert claims.run_verdict(0.27, se, 0.30, se, direction="lower")[2] == 1  # better is claimed lower
    assert claims.run_verdict(0.5, math.nan, 0.1, se)[2] == 0    # no SE: nothing is decided
    with pytest.raises(claims.ClaimError, match="direction"):
        claims.run_verdict(0.3, se, 0.2, se, direction="up")


def test_decide_over_seeds():
    strong, weak, reversed_ = run(0.40, 0.30), run(0.31, 0.30), run(0.30, 0.40)
    assert claims.decide([strong, strong, strong])["verdict"] == claims.HOLDS
    res = claims.decide([strong, strong, weak])
    assert res["verdict"] == claims.NOT_DECIDED and (res["supporting"], res["reversed"], res["required"]) == (2, 0, 3)
    assert claims.decide([strong, strong, weak], min_runs=2)["verdict"] == claims.HOLDS  # a stated majority
    assert claims.decide([strong, strong, reversed_], min_runs=2)["verdict"] == claims.NOT_DECIDED  # runs disagree
    assert claims.decide([reversed_, reversed_])["verdict"] == claims.DOES_NOT_HOLD
    assert claims.decide([reversed_, weak])["verdict"] == claims.NOT_DECIDED
    with pytest.raises(claims.ClaimError, match="min_runs"):
        claims.decide([strong], min_runs=2)


def _write_run(d, values):
    cfg = {"columns": ["ImageNet", "Average", "dataset size"],
           "rows": [{"recipe": "a", "label": "M-FLYT"}, {"recipe": "b", "label": "Standardized Sum"}]}
    header, body = build_table(cfg, values, show_reported=False)
    (d / "results" / "tables").mkdir(parents=True)
    (d / "results" / "tables" / "table2.csv").write_text(to_csv(header, body))


CLAIM = {"claim": "M-FLYT beats Standardized Sum", "table": "table2", "better": "M-FLYT",
         "worse": "Standardized Sum", "metric": "ImageNet"}


def test_decide_claims_reads_table_csvs_of_each_run(tmp_path):
    for seed, (a, b) in enumerate([(0.40, 0.30), (0.42, 0.31)]):
        _write_run(tmp_path / f"s{seed}", {
            "a": {"ImageNet": a, "ImageNet_se": 0.01, "Average": 0.3, "Average_se": 0.01, "dataset size": 10},
            "b": {"ImageNet": b, "ImageNet_se": 0.01, "Average": 0.3, "Average_se": 0.01, "dataset size": 10}})
    runs = [tmp_path / "s0", tmp_path / "s1"]
    (row,) = claims.decide_claims([CLAIM], runs)
    assert row["verdict"] == claims.HOLDS and row["differences"] == "+0.1000 ± 0.0141; +0.1100 ± 0.0141"
    (row,) = claims.decide_claims([{**CLAIM, "metric": "Average"}], runs)
    assert row["verdict"] == claims.NOT_DECIDED
    with pytest.raises(claims.ClaimError, match="no row 'DFN'"):
        claims.decide_claims([{**CLAIM, "better": "DFN"}], runs)
    with pytest.raises(claims.ClaimError, match="table not found"):
        claims.decide_claims([{**CLAIM, "table": "table9"}], runs)
    cfg = tmp_path / "claims.yaml"
    cfg.write_text("reports:\n  claims:\n    - {claim: c, table: table2, better: M-FLYT, worse: Standardized Sum, metric: ImageNet}\n")
    out = tmp_path / "claims.csv"
    assert claims.main(["--claims", str(cfg), "--out", str(out), *map(str, runs)]) == 0
    (got,) = csv.DictReader(_io.StringIO(out.read_text()))
    assert got["verdict"] == "holds" and got["supporting"] == "2"


def test_shipped_claims_name_configured_tables_rows_and_columns():
    from pathlib import Path

    import yaml

    from clipcurate.config.check import merge_named_files

    repo = Path(__file__).resolve().parents[2]
    config = {}
    merge_named_files(config, repo, "tables")
    shipped = yaml.safe_load((repo / "config/config.yaml").read_text())["reports"]["claims"]
    assert shipped
    claims.check_claims(shipped, config["tables"])
    with pytest.raises(claims.ClaimError, match=r"reports.claims\[0\].*better 'M-FLIT' is not a row of table 'table2'"):
        claims.check_claims([{**shipped[0], "better": "M-FLIT"}], config["tables"])
    with pytest.raises(claims.ClaimError, match="metric 'dataset size' is not a score column"):
        claims.check_claims([{**shipped[0], "metric": "dataset size"}], config["tables"])


def test_a_file_claim_reads_the_dfn_quality_points(tmp_path):
    """The DFN finding over dfn_data_quality.csv rows (as the dfn_data_quality rule writes them)."""
    from clipcurate.train import dfn

    points = [{"name": "dfn_q000_s0", "label": "0% of HQ replaced", "kind": "replaced", "replaced": 0.0, "seed": 0,
               "model": "a", "recipe": "a_top30"},
              {"name": "dfn_noisy_s0", "label": "noisy, longer", "kind": "variant", "replaced": 0.5, "seed": 0,
               "model": "b", "recipe": "b_top30"}]
    rows = dfn.quality_points(points, {"a": 0.20, "b": 0.35}, {"a_top30": 0.40, "b_top30": 0.30},
                              {"a": 0.02, "b": 0.02}, {"a_top30": 0.007, "b_top30": 0.007})
    d = tmp_path / "run" / "results" / "figures"
    d.mkdir(parents=True)
    with open(d / "dfn_data_quality.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    base = {"file": "results/figures/dfn_data_quality.csv"}
    reads_better = {**base, "claim": "x", "better": "noisy, longer (seed 0)", "worse": "0% of HQ replaced (seed 0)",
                    "metric": "dfn_imagenet"}
    filters_worse = {**base, "claim": "y", "better": "0% of HQ replaced (seed 0)", "worse": "noisy, longer (seed 0)",
                     "metric": "subset_imagenet"}
    claims.check_claims([reads_better, filters_worse], {})  # file claims are checked when read
    got = claims.decide_claims([reads_better, filters_worse], [tmp_path / "run"])
    # 0.15 > 2 * sqrt(2) * 0.02 = 0.0566; 0.10 > 2 * sqrt(2) * 0.007 = 0.0198
    assert [r["verdict"] for r in got] == [claims.HOLDS, claims.HOLDS]
    assert got[0]["table"] == "results/figures/dfn_data_quality.csv"


def test_a_file_claim_reads_the_filter_quality_report(tmp_path):
    """Flipped against plain CLIP on scene text, over score_quality.csv rows as the report writes them
    (keyed by ``entry``), with the AUCs' Hanley-McNeil standard errors."""
    import numpy as np

    from clipcurate.report import quality

    kinds = np.array(["clean"] * 300 + ["scene_text"] * 100)
    plain = np.r_[np.linspace(0, 1, 300), np.linspace(0.3, 1.3, 100)]   # scene text scores high: fooled
    flipped = np.r_[np.linspace(0, 1, 300), np.linspace(-0.8, 0.2, 100)]  # flipping demotes it
    rows = quality.score_rows({"clip": {"score": plain}, "clip_hflip": {"score": flipped}}, kinds)
    d = tmp_path / "run" / "results" / "reports"
    d.mkdir(parents=True)
    (d / "score_quality.csv").write_text(quality.to_csv(rows))
    claim = {"claim": "flip", "file": "results/reports/score_quality.csv", "better": "clip_hflip", "worse": "clip",
             "metric": "auc_scene_text"}
    got = claims.decide_claims([claim], [tmp_path / "run"])[0]
    by = {r["entry"]: r for r in rows}
    d_auc = by["clip_hflip"]["auc_scene_text"] - by["clip"]["auc_scene_text"]
    se = np.hypot(by["clip_hflip"]["auc_scene_text_se"], by["clip"]["auc_scene_text_se"])
    assert d_auc > 2 * se and got["verdict"] == claims.HOLDS
    d_read, se_read = (float(x) for x in got["differences"].split(" ± "))
    assert d_read == pytest.approx(d_auc, abs=2e-4) and se_read == pytest.approx(se, abs=2e-4)  # the CSV keeps 4 decimals
