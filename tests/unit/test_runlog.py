"""clipcurate.core.runlog.start: jobs obey their thread count without importing torch for it."""

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = """
import sys, types{pre}
from clipcurate.core.runlog import start
smk = types.SimpleNamespace(threads={threads}, log=[{log!r}], rule="r")
start(smk)
imported_by_start = "torch" in sys.modules
import torch
print(imported_by_start, torch.get_num_threads())
"""


def _run(tmp_path, threads: int, pre: str = "") -> list[str]:
    code = SCRIPT.format(pre=pre, threads=threads, log=str(tmp_path / "logs" / "r.log"))
    env = {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "3"}  # start() must override what the caller set
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return (tmp_path / "logs" / "r.log").read_text().split() + out.stdout.split()


def test_torch_imported_later_takes_the_threads_from_the_environment(tmp_path):
    assert _run(tmp_path, 1)[-2:] == ["False", "1"]  # start() did not import torch


def test_torch_imported_before_start_is_set(tmp_path):
    assert _run(tmp_path, 1, pre="\nimport torch")[-2:] == ["True", "1"]
    assert _run(tmp_path, 2, pre="\nimport torch")[-2:] == ["True", "2"]
