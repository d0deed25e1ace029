#!/usr/bin/env python3
"""Make ``snakemake ... --profile slurm`` find this checkout's ``profiles/slurm``.

Snakemake looks a profile name up in the current directory, then in your Snakemake profile folder
(``$XDG_CONFIG_HOME/snakemake``, by default ``~/.config/snakemake``) and in ``/etc/xdg/snakemake``.
This script links ``profiles/slurm`` into your profile folder as ``slurm``, which is the only change
it makes outside the repository (plus creating that folder if it was missing)::

    .venv/bin/python scripts/install_profile.py           # ~/.config/snakemake/slurm -> <checkout>/profiles/slurm
    .venv/bin/python scripts/install_profile.py --undo    # remove that link (and the folder, if left empty)

An existing ``slurm`` profile of yours is never replaced (choose another name with ``--name``); a
link to another checkout's profile is replaced only with ``--force``. ``--profile profiles/slurm``
works with or without it. The logic is in ``clipcurate.config.profiles``.
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's clipcurate, as the Snakefile does

from clipcurate.config.profiles import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(repo=REPO))
