"""The claims target: runs built by a nested snakemake with another seed, claims decided over them."""

import csv
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clipcurate.config.wiring import Wiring
from clipcurate.report.claims_runs import claim_targets, run_claims_seed, run_command, seeded, write_claims

REPO = Path(__file__).resolve().parents[2]

# A stand-in workflow: its one table's rows depend on the config's seed and an override, so that the
# test sees that each run got its own seed, the caller's --config values and the claims' config file.
SNAKEFILE = '''
configfile: "base.yaml"

rule table:
    output: "results/tables/t.csv"
    run:
        s, bonus = config["seed"], config.get("bonus", 0.0)
        with open(output[0], "w") as f:
            f.write("method,ImageNet,ImageNet_se\\n")
            f.write(f"A,{0.5 + bonus + 0.01 * s},0.01\\n")
            f.write(f"B,{0.3 + config['gap']},0.01\\n")
'''


def test_targets_are_the_files_the_claims_read():
    claims = [{"claim": "x", "table": "table2"}, {"claim": "y", "table": "table1"}, {"claim": "z", "table": "table2"},
              {"claim": "w", "file": "results/figures/dfn_data_quality.csv"}]
    assert claim_targets(claims) == ["results/figures/dfn_data_quality.csv", "results/tables/table1.csv",
                                     "results/tables/table2.csv"]


def test_a_run_seeds_the_world_and_every_random_step():
    assert seeded({"bonus": 1, "world": {"pool_size": 8}}, 3) == {"bonus": 1, "seed": 3, "world": {"pool_size": 8, "seed": 3}}


def test_the_run_command_names_the_workflow_directory_and_config():
    cmd = run_command("/r/Snakefile", "/w/results/claims/seed1", ["results/tables/t.csv"], ["/c/a.yaml", "/w/o.yaml"], 2,
                      ["--profile", "slurm"])
    assert cmd[:3] == [sys.executable, "-m", "snakemake"]
    assert cmd[3:] == ["results/tables/t.csv", "--snakefile", "/r/Snakefile", "--directory", "/w/results/claims/seed1",
                       "--cores", "2", "--rerun-incomplete", "--configfile", "/c/a.yaml", "/w/o.yaml", "--profile", "slurm"]


def test_runs_get_their_seed_and_the_callers_config(tmp_path, monkeypatch, caplog):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Snakefile").write_text(SNAKEFILE)
    work = tmp_path / "work"
    work.mkdir()
    (work / "base.yaml").write_text("seed: 0\ngap: 0.0\n")
    (work / "claims.yaml").write_text("gap: 0.1\n")  # the claims' config file, after the caller's
    monkeypatch.chdir(work)
    # the nested runs read base.yaml from their own directory: give them one
    for s in (0, 3):
        d = work / "results" / "claims" / f"seed{s}"
        d.mkdir(parents=True)
        (d / "base.yaml").write_text("seed: 0\ngap: 0.0\n")
    log = logging.getLogger("test")
    caplog.set_level(logging.INFO, logger="test")
    for s in (0, 3):
        run_claims_seed(seed=s, repo=repo, targets=["results/tables/t.csv"], configfiles=["claims.yaml"],
                        overrides={"bonus": 0.05}, cores=1, extra_args=[], out=f"results/claims/seed{s}/claims_run.json",
                        log=log)
    # the nested Snakemake's own progress reaches the run's log, line by line
    assert sum("steps (100%) done" in r.getMessage() for r in caplog.records) == 2
    rows = {}
    for s in (0, 3):
        with open(work / f"results/claims/seed{s}/results/tables/t.csv") as f:
            rows[s] = {r["method"]: float(r["ImageNet"]) for r in csv.DictReader(f)}
    assert rows[0] == {"A": pytest.approx(0.55), "B": pytest.approx(0.4)}
    assert rows[3] == {"A": pytest.approx(0.58), "B": pytest.approx(0.4)}
    # decided by hand: A - B = 0.15 and 0.18, SE of the difference sqrt(2) * 0.01 = 0.014: both support
    claims = [{"claim": "A beats B", "table": "t", "better": "A", "worse": "B", "metric": "ImageNet"},
              {"claim": "B beats A", "table": "t", "better": "B", "worse": "A", "metric": "ImageNet"}]
    out = write_claims(claims, ["results/claims/seed0", "results/claims/seed3"], 2.0, "claims.csv", "claims.md")
    assert [(r["verdict"], r["supporting"], r["reversed"]) for r in out] == [("holds", 2, 0), ("does not hold", 0, 2)]
    assert "**holds**" in (work / "claims.md").read_text()
    with open(work / "claims.csv") as f:
        assert [r["verdict"] for r in csv.DictReader(f)] == ["holds", "does not hold"]


def test_a_failed_run_is_an_error_naming_its_seed(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Snakefile").write_text("rule x:\n    output: 'a'\n    shell: 'exit 3'\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match=r"claims run \(seed 2\) failed"):
        run_claims_seed(seed=2, repo=repo, targets=["a"], configfiles=[], overrides={}, cores=1, extra_args=[],
                        out="results/claims/seed2/claims_run.json", log=logging.getLogger("test"))
    with pytest.raises(FileNotFoundError, match=r"config file nope.yaml not found"):
        run_claims_seed(seed=2, repo=repo, targets=["a"], configfiles=["nope.yaml"], overrides={}, cores=1, extra_args=[],
                        out="results/claims/seed2/claims_run.json", log=logging.getLogger("test"))


def test_caller_config_is_portable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files, over = Wiring.caller_config([str(tmp_path / "site.yaml"), "rel.yaml", "/elsewhere/x.yaml"], {"seed": 1})
    assert files == ["site.yaml", "rel.yaml", "/elsewhere/x.yaml"] and over == {"seed": 1}


def test_the_claims_target_is_planned_one_run_per_seed(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"reports": {"claims_runs": {"seeds": [4, 7]}}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "results/reports/claims.csv", "--cores", "1",
                           "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile", str(cfg)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "results/claims/seed4/claims_run.json" in out and "results/claims/seed7/claims_run.json" in out


def test_a_claim_naming_an_unknown_row_fails_at_planning_time(tmp_path):
    cfg = tmp_path / "c.yaml"
    claims = [{"claim": "typo", "table": "table1", "better": "No filtering", "worse": "CLIP scor", "metric": "ImageNet"}]
    cfg.write_text(yaml.safe_dump({"reports": {"claims": claims}}))
    proc = subprocess.run([sys.executable, "-m", "clipcurate.config.check", "--repo", str(REPO), str(cfg)],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1
    assert "reports.claims[0] ('typo'): worse 'CLIP scor' is not a row of table 'table1'" in proc.stderr


def test_claims_are_tiny_world_only():
    """At real scale a scale file may rename a table's columns (the Devil table's digit tasks), so the
    claims are not checked there, and the claims target refuses to run: they are decided over world seeds."""
    import pytest

    from clipcurate.config.checks import check_claims_config
    from clipcurate.config.claims_wiring import ClaimsWiring

    bad = [{"claim": "x", "table": "devil_stages", "better": "a", "worse": "b", "metric": "digits"}]
    check_claims_config({"pool": {"source": "datacomp"}, "reports": {"claims": bad}, "tables": {}})
    with pytest.raises(Exception, match="devil_stages"):
        check_claims_config({"pool": {"source": "world"}, "reports": {"claims": bad}, "tables": {}})

    class Real(ClaimsWiring):
        real_scale = True
        config = {"reports": {"claims": bad}}

    with pytest.raises(ValueError, match="tiny-world seeds"):
        Real().claims_run_files()
