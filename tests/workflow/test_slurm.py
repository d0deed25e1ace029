"""profiles/slurm as researchers type it: `snakemake results/tables/table1.csv --profile slurm`.

- The short name: `scripts/install_profile.py` links profiles/slurm into the user's Snakemake
  profile folder; here HOME and XDG_CONFIG_HOME point at a temp folder, so the real home is never
  touched. The commands run from the repository root, as typed (with `--directory` a temp folder).
- The dry run needs no Slurm and no conda (PATH is stripped of any conda): it always runs.
- The micro pool built by sbatch jobs runs only where Slurm answers (`sinfo` shows an idle node);
  `scripts/slurm_one_node.sh` brings up a one-node cluster on a Debian machine, and `.ci/run` does
  so when it runs as root. Conda is not available there, so that test installs, under the same
  name `slurm`, a copy of the profile without `software-deployment-method`; every other setting is
  the repository's.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clipcurate.config import profiles
from clipcurate.pool.download import free_port
from tests.required import needs

REPO = Path(__file__).resolve().parents[2]
NO_PROFILE = "profile directory given (slurm), but no profile.yaml (or config.yaml) found"


def snakemake_command() -> list[str]:
    """`snakemake` as typed: the console script of this environment."""
    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]


def user_env(tmp_path: Path) -> dict:
    """The environment of a user whose home is a temp folder and who has no conda on PATH."""
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and not (Path(d) / "conda").exists() and not (Path(d) / "conda.exe").exists()]
    env = {**os.environ, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
           "XDG_CACHE_HOME": str(tmp_path / "home" / ".cache"), "PATH": os.pathsep.join(path)}
    assert shutil.which("conda", path=env["PATH"]) is None
    return env


def job_counts(output: str) -> dict:
    """Snakemake's "Job stats" table of a dry run, as {rule: count}."""
    table = output[output.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.workflow
def test_short_profile_name_and_dry_run_without_conda_from_the_repository_root(tmp_path):
    env = user_env(tmp_path)
    work = tmp_path / "work"
    table1 = [*snakemake_command(), "results/tables/table1.csv", "--directory", str(work), "-n"]

    def run(*args):
        return subprocess.run([*table1, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)

    before = run("--profile", "slurm")
    assert before.returncode != 0 and NO_PROFILE in before.stderr  # Snakemake's own error without the set-up
    setup = subprocess.run([sys.executable, "scripts/install_profile.py"], cwd=REPO, env=env,
                           capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr
    assert (tmp_path / "home/.config/snakemake/slurm").resolve() == (REPO / "profiles/slurm").resolve()

    for profile in ("slurm", "profiles/slurm"):  # the short name, and the path form as before
        proc = run("--profile", profile)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        assert f"Using profile {profile} for setting default command line arguments" in out
        assert "Dry run without conda" in out and "conda info" not in out
        jobs = job_counts(out)
        # the table waits for its evaluations (one per row of table1), not for any figure
        assert jobs["table"] == 1 and jobs["evaluate"] == 3 and jobs["train"] == 3, jobs
        assert not [r for r in jobs if "figure" in r], jobs
    figures = subprocess.run([*snakemake_command(), "figures", "--directory", str(work), "-n", "--profile", "slurm"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    jobs = job_counts(figures.stdout + figures.stderr)
    assert figures.returncode == 0 and jobs["table_figures"] == 1 and "table" not in jobs, jobs

    undo = subprocess.run([sys.executable, "scripts/install_profile.py", "--undo"], cwd=REPO, env=env,
                          capture_output=True, text=True)
    assert undo.returncode == 0, undo.stderr
    assert not (tmp_path / "home/.config/snakemake").exists()
    after = run("--profile", "slurm")
    assert after.returncode != 0 and NO_PROFILE in after.stderr


def slurm_is_up() -> bool:
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return proc.returncode == 0 and any(s.strip() in ("idle", "mixed") for s in proc.stdout.splitlines())


@pytest.mark.workflow
@needs("slurm", slurm_is_up(), "no Slurm cluster answering (run scripts/slurm_one_node.sh as root)")
def test_micro_pool_through_the_slurm_profile(tmp_path):
    env = user_env(tmp_path)
    profile = tmp_path / "profile" / "slurm"
    profile.mkdir(parents=True)
    settings = yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())
    assert settings["executor"] == "slurm"
    settings.pop("software-deployment-method")
    (profile / "profile.yaml").write_text(yaml.safe_dump(settings))
    # installed as `slurm` in the temp home's profile folder, as scripts/install_profile.py does
    profiles.install(profile, dest_dir=tmp_path / "home/.config/snakemake")
    work = tmp_path / "work"
    work.mkdir()
    (work / "port.yaml").write_text(yaml.safe_dump({"world": {"serve_port": free_port()}}))
    command = [*snakemake_command(), "results/pool/index.parquet", "--profile", "slurm",
               "--configfile", str(REPO / "tests/workflow/micro.yaml"), str(work / "port.yaml"),
               "--directory", str(work), "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "5"]
    plan = subprocess.run([*command, "-n"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    assert "Using profile slurm" in plan.stderr
    assert job_counts(plan.stdout + plan.stderr) == {"world": 1, "pool_metadata": 1, "download": 1, "pool_index": 1,
                                                     "total": 4}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # every rule ran as its own Slurm job, and the pool is complete
    logs = work / ".snakemake" / "slurm_logs"
    assert sorted(p.name for p in logs.iterdir()) == ["rule_download", "rule_pool_index", "rule_pool_metadata", "rule_world"]
    report = json.loads((work / "results/pool/download_report.json").read_text())
    assert report["success"] > 0 and report["failed"] > 0
    assert (work / "results/pool/index.parquet").stat().st_size > 0
