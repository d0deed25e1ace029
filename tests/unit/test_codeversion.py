"""Code versions from the import closure of each workflow script (clipcurate.core.codeversion)."""

import shutil
from modulefinder import ModuleFinder
from pathlib import Path

import pytest

from clipcurate.core.codeversion import code_version, import_closure

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
    # what ModuleFinder cannot see: the plug-in registries' importlib.import_module (score methods,
    # image variants), and open_clip_train's entry point run in a subprocess (`-m clipcurate.train.entry`)
    explained = set()
    for registry in ("scores.methods", "embed.variants"):
        if f"clipcurate.{registry}" in mine:
            for m in (src / "clipcurate" / registry.replace(".", "/")).glob("*.py"):
                explained |= finder_closure(src, module=f"clipcurate.{registry}.{m.stem}")
    if "clipcurate.train.entry" in mine:
        explained |= finder_closure(src, module="clipcurate.train.entry")
    assert mine - theirs <= explained


@pytest.mark.parametrize(("script", "module"), [
    ("train", "train/entry"), ("train_reference_model", "train/entry"), ("evaluate", "evaluate/datacomp_tasks"),
    ("train_flyt", "train/flyt/adamw"), ("train_flyt", "train/flyt/loss"), ("train_flyt", "train/flyt/downstream"),
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


def test_a_registry_counts_only_the_plugins_a_job_runs(tmp_path):
    """A package whose __init__ loads its modules by name (a plug-in registry): a job's version
    covers the plug-ins it names and what they import, so adding a plug-in changes no version and
    editing one changes only the versions that name it; plugins=None counts them all."""
    src, script = tmp_path / "src", tmp_path / "s.py"
    write(src / "clipcurate" / "__init__.py", "")
    write(src / "clipcurate" / "reg" / "__init__.py",
          "import importlib, pkgutil\ndef load():\n    for m in pkgutil.iter_modules(__path__):\n"
          "        importlib.import_module(f'{__name__}.{m.name}')\n")
    write(src / "clipcurate" / "reg" / "a.py", "from clipcurate import helper\n")
    write(src / "clipcurate" / "reg" / "b.py", "B = 1\n")
    write(src / "clipcurate" / "helper.py", "H = 1\n")
    write(script, "from clipcurate.reg import load\n")

    def versions():
        return {k: code_version(script, src, plugins=p) for k, p in
                {"none": (), "a": ("clipcurate.reg.a",), "b": ("clipcurate.reg.b",), "all": None}.items()}

    before = versions()
    assert len(set(before.values())) == 4
    names = {p.stem for p in import_closure(script, src, plugins=("clipcurate.reg.a",))}
    assert names == {"__init__", "a", "helper"}  # the plug-in's own import counts
    write(src / "clipcurate" / "reg" / "c.py", "C = 1\n")  # a new plug-in
    added = versions()
    assert {k for k in before if added[k] != before[k]} == {"all"}
    write(src / "clipcurate" / "helper.py", "H = 2\n")  # a module only plug-in a imports
    edited = versions()
    assert {k for k in added if edited[k] != added[k]} == {"a", "all"}
    write(src / "clipcurate" / "reg" / "b.py", "B = 2\n")
    assert {k for k, v in versions().items() if v != edited[k]} == {"b", "all"}


def test_repository_edit_changes_exactly_the_rules_that_reach_it(tmp_path):
    """A copy of the repository's scripts and library: editing flyt/loss.py (imported only through
    flyt.meta/flyt.trainer) changes the FLYT trainer and the mix (M-FLYT), and nothing else; the
    score jobs count it only where the method they run reaches it (their plug-in)."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(REPO / "workflow" / "scripts", tmp_path / "scripts")
    scripts = sorted((tmp_path / "scripts").glob("*.py"))
    before = {s.stem: code_version(s, tmp_path / "src") for s in scripts}
    loss = tmp_path / "src" / "clipcurate" / "train" / "flyt" / "loss.py"
    loss.write_text(loss.read_text() + "\n# edited\n")
    after = {s.stem: code_version(s, tmp_path / "src") for s in scripts}
    assert {n for n in before if after[n] != before[n]} == {"train_flyt", "mix"}


def test_adding_a_method_or_a_variant_changes_no_rule_that_does_not_run_it(tmp_path):
    """The issue's leaks: a new score method changed the mix's version (mixing -> scores.inputs ->
    the registry), a new image variant those of embed, embed_reference, train_classifier, mix and
    every score job. With the plug-ins a job runs named (none but a score job's method and an embed
    job's variant), no rule's version changes."""
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    src = tmp_path / "src" / "clipcurate"
    jobs = {s.stem: () for s in scripts}
    jobs.update({"score:clip_score": ("clipcurate.scores.methods.clip_score",), "embed:plain": ("clipcurate.embed.variants.plain",),
                 "embed:hflip": ("clipcurate.embed.variants.hflip",)})

    def versions():
        return {job: code_version(REPO / "workflow" / "scripts" / f"{job.split(':')[0]}.py", tmp_path / "src", plugins=plugins)
                for job, plugins in jobs.items()}

    before = versions()
    (src / "scores" / "methods" / "new_method.py").write_text("from clipcurate.scores import register\n")
    (src / "embed" / "variants" / "new_variant.py").write_text("from clipcurate.embed.variants import register\n")
    assert versions() == before
    (src / "embed" / "variants" / "hflip.py").write_text((src / "embed" / "variants" / "hflip.py").read_text() + "\n# edited\n")
    assert {job for job, v in versions().items() if v != before[job]} == {"embed:hflip"}


def test_version_does_not_depend_on_the_checkout_location(tmp_path):
    for name in ("one", "two/deeper"):
        shutil.copytree(REPO / "src", tmp_path / name / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    script = REPO / "workflow" / "scripts" / "train.py"
    assert code_version(script, tmp_path / "one" / "src") == code_version(script, tmp_path / "two/deeper" / "src")


def test_model_configs_count_for_the_modules_that_read_them(tmp_path):
    shutil.copytree(REPO / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    script = REPO / "workflow" / "scripts" / "train.py"
    before = code_version(script, tmp_path / "src")
    cfg = next((tmp_path / "src" / "clipcurate" / "embed" / "model_configs").glob("*.json"))
    cfg.write_text(cfg.read_text() + "\n")
    assert code_version(script, tmp_path / "src") != before


def test_score_jobs_do_not_count_the_mixing_code():
    """Mix planning lives in clipcurate.mix.plan, apart from the plan module a score job's runner
    imports: editing a mix method (clipcurate.mix.aggregate) reruns the mixes, not every score."""
    from clipcurate.core.codeversion import import_closure

    repo = Path(__file__).resolve().parents[2]
    scripts = repo / "workflow" / "scripts"
    for script in ("score.py", "score_chunk.py", "score_stage.py"):
        names = {p.relative_to(repo / "src").as_posix() for p in import_closure(scripts / script, repo / "src", plugins=())}
        assert "clipcurate/scores/runner.py" in names  # the closure is found (the check can fail)
        assert "clipcurate/mix/aggregate.py" not in names and "clipcurate/mix/plan.py" not in names, script
    mix = {p.relative_to(repo / "src").as_posix() for p in import_closure(scripts / "mix.py", repo / "src", plugins=())}
    assert "clipcurate/mix/aggregate.py" in mix
