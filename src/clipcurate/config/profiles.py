"""The project's Snakemake profiles (``profiles/<name>``) as a user uses them.

Two things Snakemake 9 does not do on its own:

**A short profile name.** ``snakemake ... --profile slurm`` looks for a folder ``slurm`` holding a
``profile.yaml`` (or ``config.yaml``) in the current directory, then in the user's profile folder
and then in the site's (``snakemake.cli.get_profile_dir``; the two folders are
``platformdirs.AppDirs("snakemake", "snakemake")``'s ``user_config_dir`` and ``site_config_dir``:
``$XDG_CONFIG_HOME/snakemake`` or ``~/.config/snakemake``, and ``/etc/xdg/snakemake`` on Linux).
``profiles/slurm`` is in none of them, so only ``--profile profiles/slurm`` works out of the box.
:func:`install` makes the short form work by linking ``profiles/<name>`` into the user's profile
folder (found with Snakemake's own ``get_appdirs``, so it is the folder ``--profile`` searches);
:func:`uninstall` removes that link again. Neither touches anything else: a folder or file of the
same name that is not this link is left alone and reported.

**A dry run without conda.** ``profiles/slurm`` sets ``software-deployment-method: conda`` so that
every job runs in its ``envs/*.yaml`` environment. Snakemake then asks ``conda info`` for every
env even in a dry run (to name the env's pin file), which fails at once on a login node without
conda, the very place one checks a plan. :func:`plan_without_conda` (called by the Snakefile) drops
the conda deployment for a dry run where no ``conda`` can be found: the plan (jobs, resources,
params) is the same, only the env creation a dry run would announce is skipped, and every real run
(including the cluster jobs, which re-read the Snakefile) keeps conda.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from pathlib import Path


def user_profile_dir() -> Path:
    """The user's Snakemake profile folder, the one ``--profile NAME`` searches after the current
    directory (Snakemake's own lookup, so ``XDG_CONFIG_HOME`` and ``HOME`` are honoured as it does)."""
    from snakemake.common import get_appdirs

    # the AppDirs object is cached, but each property reads the environment when asked
    return Path(get_appdirs().user_config_dir)


class ProfileError(RuntimeError):
    """Installing or removing the profile link would touch something that is not ours."""


def _points_to(link: Path, target: Path) -> bool:
    return link.is_symlink() and Path(os.path.realpath(link)) == Path(os.path.realpath(target))


def _check_source(source: Path) -> None:
    if not (source / "profile.yaml").is_file() and not (source / "config.yaml").is_file():
        raise ProfileError(f"{source}: not a Snakemake profile (no profile.yaml or config.yaml in it)")


def install(source: str | os.PathLike, name: str | None = None, dest_dir: str | os.PathLike | None = None,
            force: bool = False) -> tuple[Path, str]:
    """Link the profile folder ``source`` as ``<dest_dir>/<name>`` (``dest_dir``: the user's
    profile folder; ``name``: the folder's own name), so that ``--profile <name>`` finds it.

    Returns the link and what was done ("linked", "already linked" or "relinked"). An existing
    link to another folder (e.g. another checkout's profile) is replaced only with ``force``; a
    real folder or file of that name is never replaced (:class:`ProfileError`).
    """
    source = Path(source).resolve()
    _check_source(source)
    dest_dir = Path(dest_dir) if dest_dir is not None else user_profile_dir()
    link = dest_dir / (name or source.name)
    if _points_to(link, source):
        return link, "already linked"
    done = "linked"
    if link.is_symlink():
        if not force:
            raise ProfileError(
                f"{link} already exists and links to {os.readlink(link)}, not to {source}; "
                "rerun with --force to point it here, or use --profile with this checkout's path")
        link.unlink()
        done = "relinked"
    elif link.exists():
        raise ProfileError(
            f"{link} already exists and is not a link made by this script (a profile of your own?); "
            f"it is left alone: pick another name with --name, or use --profile {source}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    link.symlink_to(source, target_is_directory=True)
    return link, done


def uninstall(source: str | os.PathLike, name: str | None = None, dest_dir: str | os.PathLike | None = None,
              force: bool = False) -> tuple[Path, str]:
    """Remove the link :func:`install` made (``<dest_dir>/<name>`` pointing at ``source``), and
    ``dest_dir`` itself if that leaves it empty. A link elsewhere is removed only with ``force``;
    a real folder or file is never removed (:class:`ProfileError`). Returns the link and what was
    done ("removed" or "nothing to remove")."""
    source = Path(source).resolve()
    dest_dir = Path(dest_dir) if dest_dir is not None else user_profile_dir()
    link = dest_dir / (name or source.name)
    if not link.is_symlink():
        if link.exists():
            raise ProfileError(f"{link} is not a link made by this script; it is left alone")
        return link, "nothing to remove"
    if not _points_to(link, source) and not force:
        raise ProfileError(f"{link} links to {os.readlink(link)}, not to {source}; "
                           "it is left alone (rerun with --force to remove it anyway)")
    link.unlink()
    with contextlib.suppress(OSError):  # only if empty: other profiles of the user stay, and so does the folder
        dest_dir.rmdir()
    return link, "removed"


def conda_found(deployment_settings) -> bool:
    """Whether Snakemake could run ``conda info`` here: ``conda`` on PATH, or a conda base given
    with ``--conda-base-path``."""
    return shutil.which("conda") is not None or bool(getattr(deployment_settings, "conda_base_path", None))


def is_dry_run(workflow) -> bool:
    """Whether Snakemake was asked for a dry run (``-n``), known already while the Snakefile is
    parsed: the executor (``workflow.dryrun``) is set only afterwards, but the CLI passes the flag in
    the output settings (``OutputSettings.dryrun``) the workflow is created with."""
    output = getattr(workflow, "output_settings", None)
    return bool(getattr(output, "dryrun", False)) or bool(workflow.dryrun)


def plan_without_conda(workflow, log=None) -> bool:
    """For a dry run where conda is absent, drop the conda deployment method (set by e.g.
    ``--profile slurm``) so that the dry run plans instead of failing on ``conda info``.

    Only a dry run is changed, and only where conda cannot be found (and no container is asked
    for, in which conda would run inside the image): a real run still needs and uses conda, and
    fails as Snakemake always does where it is missing. Returns whether the method was dropped.
    """
    from snakemake.settings.types import DeploymentMethod

    settings = workflow.deployment_settings
    methods = settings.deployment_method
    if (not is_dry_run(workflow) or DeploymentMethod.CONDA not in methods
            or DeploymentMethod.APPTAINER in methods or conda_found(settings)):
        return False
    settings.deployment_method = type(methods)(m for m in methods if m != DeploymentMethod.CONDA)
    (log or (lambda msg: print(msg, file=sys.stderr)))("Dry run without conda (no `conda` on PATH): planning without the conda environments; "
        "real runs still create and use them (--software-deployment-method conda).")
    return True


def main(argv: list[str] | None = None, repo: str | os.PathLike | None = None) -> int:
    """``scripts/install_profile.py``: link (or, with --undo, unlink) profiles/<name> of the checkout
    ``repo`` into the user's Snakemake profile folder."""
    ap = argparse.ArgumentParser(
        prog="install_profile.py",
        description="Make `snakemake --profile slurm` find this checkout's profiles/slurm: link it into "
                    "your Snakemake profile folder ($XDG_CONFIG_HOME/snakemake or ~/.config/snakemake); "
                    "--undo removes the link again.")
    ap.add_argument("profile", nargs="?", default="slurm", help="the folder under profiles/ (default: slurm)")
    ap.add_argument("--name", help="the name to use with --profile (default: the folder's name)")
    ap.add_argument("--undo", action="store_true", help="remove the link this script made")
    ap.add_argument("--force", action="store_true",
                    help="replace (or with --undo remove) a link of that name that points elsewhere")
    ap.add_argument("--dest", help="the profile folder to link into (default: Snakemake's user profile folder)")
    args = ap.parse_args(argv)
    repo = Path(repo) if repo is not None else Path.cwd()
    source = repo / "profiles" / args.profile
    try:
        if args.undo:
            link, done = uninstall(source, args.name, args.dest, force=args.force)
        else:
            link, done = install(source, args.name, args.dest, force=args.force)
    except ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.undo:
        print(f"{link}: {done}" + (f" (`--profile {link.name}` no longer finds it)" if done == "removed" else ""))
    else:
        undo = " ".join(["python scripts/install_profile.py", *(a for a in (argv if argv is not None else sys.argv[1:])
                                                                   if a != "--force"), "--undo"])
        print(f"{link} -> {source}: {done}; `snakemake ... --profile {link.name}` now uses it (undo: {undo})")
    return 0
