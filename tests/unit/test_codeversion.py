"""Code versions from the import closure of each workflow script (clipcurate.codeversion)."""

import shutil
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from clipcurate.codeversion import code_version, import_closure

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))


def module_names(paths, src):
    names = set()
    for p in paths:
        rel = Path(p).relative_to(src).with_suffix("")
        names.add(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return names


def finder_closure(src, script=None, module=None):
    """The standard library's static import finder (bytecode scan, nested functions included)."""
    mf = ModuleFinder(path=[str(src)])
    if script:
        mf.run_script(str(script))
    else:
        mf.import_hook(module)
    return {m for m in mf.modules if m == "clipcurate" or m.startswith("clipcurate.")}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_closure_agrees_with_modulefinder(script):
    src = REPO / "src"
    mine = module_names(import_closure(script, src), src)
    theirs = finder_closure(src, script=script)
    assert theirs <= mine
    # what ModuleFinder cannot see: the score-method registry's importlib.import_module, and
    # open_clip_train's entry point run in a subprocess (`-m clipcurate.train_entry`)
    explained = set()
    if "clipcurate.scores" in mine:
        for m in (src / "clipcurate" / "scores").glob("*.py"):
            explained |= finder_closure(src, module=f"clipcurate.scores.{m.stem}")
    if "clipcurate.train_entry" in mine:
        explained |= finder_closure(src, module="clipcurate.train_entry")
    assert mine - theirs <= explained


@pytest.mark.parametrize(("script", "module"), [
    ("train", "train_entry"), ("train_reference_model", "train_entry"), ("evaluate", "datacomp_tasks"),
    ("train_flyt", "flyt/adamw"), ("train_flyt", "flyt/loss"), ("train_flyt", "flyt/downstream"),
])
def test_the_issues_missing_modules_are_in_the_closure(script, module):
    src = REPO / "src"
    files = import_closure(REPO / "workflow" / "scripts" / f"{script}.py", src)
    assert src / "clipcurate" / f"{module}.py" in files


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_editing_an_indirect_module_changes_exactly_the_scripts_that_reach_it(tmp_path):
    src, scripts = tmp_path / "src", tmp_path / "scripts"
    write(src / "clipcurate" / "__init__.py", "")
    write(src / "clipcurate" / "a.py", "import json\n")
    write(src / "clipcurate" / "b.py", "def f():\n    from .pkg import c\n    return c\n")
    write(src / "clipcurate" / "pkg" / "__init__.py", "")
    write(src / "clipcurate" / "pkg" / "c.py", "from ..d import x\n")
    write(src / "clipcurate" / "d.py", "x = 1\n")
    write(src / "clipcurate" / "unused.py", "y = 2\n")
    write(scripts / "s_a.py", "import clipcurate.a\n")
    write(scripts / "s_b.py", "from clipcurate.b import f\n")  # reaches d only via a function-local import
    write(scripts / "s_c.py", "def main():\n    from clipcurate.pkg.c import x\n")
    names = ["s_a", "s_b", "s_c"]

    def versions():
        return {n: code_version(scripts / f"{n}.py", src) for n in names}

    before = versions()
    assert len(set(before.values())) == 3
    write(src / "clipcurate" / "d.py", "x = 2\n")
    after = versions()
    assert {n for n in names if after[n] != before[n]} == {"s_b", "s_c"}
    write(src / "clipcurate" / "unused.py", "y = 3\n")
    assert versions() == after
    write(src / "clipcurate" / "pkg" / "__init__.py", "# the package runs on import\n")
    changed = versions()
    assert {n for n in names if changed[n] != after[n]} == {"s_b", "s_c"}


def test_repository_edit_changes_exactly_the_rules_that_reach_it(tmp_path):
    """A copy of the repository's scripts and library: editing flyt/loss.py (imported only through
    flyt.meta/flyt.trainer) changes the FLYT trainer, the mix (M-FLYT) and the score rules (E-FLYT
    through the score-method registry), and nothing else."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "workflow" / "scripts", tmp_path / "scripts")
    scripts = sorted((tmp_path / "scripts").glob("*.py"))
    before = {s.stem: code_version(s, tmp_path / "src") for s in scripts}
    loss = tmp_path / "src" / "clipcurate" / "flyt" / "loss.py"
    loss.write_text(loss.read_text() + "\n# edited\n")
    after = {s.stem: code_version(s, tmp_path / "src") for s in scripts}
    assert {n for n in before if after[n] != before[n]} == {"train_flyt", "mix", "score", "score_chunk", "score_stage"}


def test_version_does_not_depend_on_the_checkout_location(tmp_path):
    for name in ("one", "two/deeper"):
        shutil.copytree(REPO / "src", tmp_path / name / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    script = REPO / "workflow" / "scripts" / "train.py"
    assert code_version(script, tmp_path / "one" / "src") == code_version(script, tmp_path / "two/deeper" / "src")


def test_model_configs_count_for_the_modules_that_read_them(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    script = REPO / "workflow" / "scripts" / "train.py"
    before = code_version(script, tmp_path / "src")
    cfg = next((tmp_path / "src" / "clipcurate" / "model_configs").glob("*.json"))
    cfg.write_text(cfg.read_text() + "\n")
    assert code_version(script, tmp_path / "src") != before
