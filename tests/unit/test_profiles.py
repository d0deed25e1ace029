"""Installing profiles/slurm as the named profile `slurm` (scripts/install_profile.py,
clipcurate.config.profiles), checked against Snakemake's own profile lookup; and the dry run without conda.

Every test points HOME and XDG_CONFIG_HOME at a temp folder: nothing here touches the real home.
"""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from snakemake.settings.types import DeploymentMethod

from clipcurate.config import profiles

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "profiles" / "slurm"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temp HOME and XDG_CONFIG_HOME for this process (Snakemake's user profile folder under it)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def lookup(name, cwd, env):
    """Snakemake's own answer to `--profile NAME` (snakemake.cli.get_profile_dir) in a fresh process."""
    code = ("import sys; from snakemake.cli import get_profile_dir; "
            "r = get_profile_dir(sys.argv[1]); print(r[1].resolve() if r else 'NONE')")
    proc = subprocess.run([sys.executable, "-c", code, name], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def test_user_profile_dir_is_the_one_snakemake_searches(home):
    assert profiles.user_profile_dir() == home / "config" / "snakemake"


def test_install_script_makes_the_short_name_resolve_and_undo_restores(home):
    env = {**os.environ}
    # before: Snakemake finds no profile `slurm` from the repository root
    assert lookup("slurm", REPO, env) == "NONE"
    proc = subprocess.run([sys.executable, str(REPO / "scripts/install_profile.py")], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    link = home / "config" / "snakemake" / "slurm"
    assert link.is_symlink() and link.resolve() == PROFILE.resolve()
    assert "--undo" in proc.stdout
    # the short name now resolves to the repository's profile file, from the root and from elsewhere
    assert lookup("slurm", REPO, env) == str((PROFILE / "profile.yaml").resolve())
    assert lookup("slurm", home, env) == str((PROFILE / "profile.yaml").resolve())
    # the path form still works, with or without the link
    assert lookup("profiles/slurm", REPO, env) == str((PROFILE / "profile.yaml").resolve())
    # a second install changes nothing
    again = subprocess.run([sys.executable, str(REPO / "scripts/install_profile.py")], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0 and "already linked" in again.stdout
    # undo: the link and the folder it created are gone, and the name no longer resolves
    undo = subprocess.run([sys.executable, str(REPO / "scripts/install_profile.py"), "--undo"], env=env,
                          capture_output=True, text=True)
    assert undo.returncode == 0, undo.stderr
    assert not link.exists() and not link.is_symlink() and not (home / "config" / "snakemake").exists()
    assert lookup("slurm", REPO, env) == "NONE"
    assert lookup("profiles/slurm", REPO, env) == str((PROFILE / "profile.yaml").resolve())


def test_an_existing_profile_of_the_user_is_never_replaced(home):
    dest = home / "config" / "snakemake"
    own = dest / "slurm"
    own.mkdir(parents=True)
    (own / "profile.yaml").write_text("executor: slurm\njobs: 7\n")
    with pytest.raises(profiles.ProfileError, match="not a link made by this script"):
        profiles.install(PROFILE)
    with pytest.raises(profiles.ProfileError, match="left alone"):
        profiles.uninstall(PROFILE)
    assert (own / "profile.yaml").read_text() == "executor: slurm\njobs: 7\n"
    # under another name it installs beside the user's own
    link, done = profiles.install(PROFILE, name="clipcurate-slurm")
    assert done == "linked" and link == dest / "clipcurate-slurm" and link.resolve() == PROFILE.resolve()
    link, done = profiles.uninstall(PROFILE, name="clipcurate-slurm")
    assert done == "removed" and not link.is_symlink()
    assert dest.is_dir() and (own / "profile.yaml").is_file()  # the folder still holds the user's profile


def test_a_link_to_another_checkout_is_replaced_only_with_force(home, tmp_path):
    other = tmp_path / "other_checkout" / "profiles" / "slurm"
    other.mkdir(parents=True)
    (other / "profile.yaml").write_text("executor: slurm\n")
    profiles.install(other)
    with pytest.raises(profiles.ProfileError, match="links to"):
        profiles.install(PROFILE)
    with pytest.raises(profiles.ProfileError, match="links to"):
        profiles.uninstall(PROFILE)
    link, done = profiles.install(PROFILE, force=True)
    assert done == "relinked" and link.resolve() == PROFILE.resolve()
    assert profiles.uninstall(PROFILE)[1] == "removed"
    assert profiles.uninstall(PROFILE)[1] == "nothing to remove"


def test_install_refuses_a_folder_that_is_not_a_profile(home, tmp_path):
    with pytest.raises(profiles.ProfileError, match="no profile.yaml or config.yaml"):
        profiles.install(tmp_path)
    assert not (home / "config" / "snakemake").exists()


def fake_workflow(dryrun, methods, conda_base_path=None):
    return SimpleNamespace(dryrun=False, output_settings=SimpleNamespace(dryrun=dryrun),
                           deployment_settings=SimpleNamespace(deployment_method=set(methods),
                                                               conda_base_path=conda_base_path))


@pytest.mark.parametrize("dryrun, methods, conda_on_path, base, dropped", [
    (True, {DeploymentMethod.CONDA}, False, None, True),              # login node: plan without conda
    (False, {DeploymentMethod.CONDA}, False, None, False),            # a real run keeps conda (and fails without)
    (True, {DeploymentMethod.CONDA}, True, None, False),              # conda present: Snakemake's own dry run
    (True, {DeploymentMethod.CONDA}, False, "/opt/conda", False),     # --conda-base-path names one
    (True, {DeploymentMethod.CONDA, DeploymentMethod.APPTAINER}, False, None, False),  # conda inside images
    (True, set(), False, None, False),                                # no conda deployment asked for
])
def test_plan_without_conda_only_for_a_dry_run_where_conda_is_absent(monkeypatch, tmp_path, dryrun, methods,
                                                                    conda_on_path, base, dropped):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if conda_on_path:
        (bin_dir / "conda").write_text("#!/bin/sh\n")
        (bin_dir / "conda").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    wf = fake_workflow(dryrun, methods, base)
    said = []
    assert profiles.plan_without_conda(wf, said.append) is dropped
    want = set(methods) - {DeploymentMethod.CONDA} if dropped else set(methods)
    assert wf.deployment_settings.deployment_method == want
    assert bool(said) is dropped
