"""profiles/slurm on a live Slurm cluster: the micro pool built by sbatch jobs.

Runs only where Slurm answers (`sinfo` shows an idle node); `scripts/slurm_one_node.sh` brings up
a one-node cluster on a Debian machine, and `.ci/run` does so when it runs as root. Conda is not
available there, so the test uses a copy of the profile without `software-deployment-method`;
every other setting is the repository's.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clipcurate.pool import free_port
from tests.required import needs

REPO = Path(__file__).resolve().parents[2]


def slurm_is_up() -> bool:
    if not shutil.which("sinfo") or not shutil.which("sbatch"):
        return False
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return proc.returncode == 0 and any(s.strip() in ("idle", "mixed") for s in proc.stdout.splitlines())


@pytest.mark.workflow
@needs("slurm", slurm_is_up(), "no Slurm cluster answering (run scripts/slurm_one_node.sh as root)")
def test_micro_pool_through_the_slurm_profile(tmp_path):
    profile = tmp_path / "profile"
    profile.mkdir()
    settings = yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())
    assert settings["executor"] == "slurm"
    settings.pop("software-deployment-method")
    (profile / "profile.yaml").write_text(yaml.safe_dump(settings))
    work = tmp_path / "work"
    work.mkdir()
    (work / "port.yaml").write_text(yaml.safe_dump({"world": {"serve_port": free_port()}}))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
         "results/pool/index.parquet", "--profile", str(profile), "--slurm-no-account",
         "--slurm-init-seconds-before-status-checks", "5",
         "--configfile", str(REPO / "tests/workflow/micro.yaml"), str(work / "port.yaml")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # every rule ran as its own Slurm job, and the pool is complete
    logs = work / ".snakemake" / "slurm_logs"
    assert sorted(p.name for p in logs.iterdir()) == ["rule_download", "rule_pool_index", "rule_pool_metadata", "rule_world"]
    report = json.loads((work / "results/pool/download_report.json").read_text())
    assert report["success"] > 0 and report["failed"] > 0
    assert (work / "results/pool/index.parquet").stat().st_size > 0
