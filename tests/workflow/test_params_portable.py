"""Params hold nothing machine-specific: the same workflow checked out at two different absolute
paths, run in two different working directories, plans every job with identical params (as
Snakemake records them for its params rerun trigger), and no param names either location."""

import shutil

import pytest

from clipcurate.embed import variants
from clipcurate.core.codeversion import code_version
from clipcurate.scores.plan import code_version as score_code_version

from .plan import plan
from .test_slurm import REPO

pytestmark = pytest.mark.slow

TARGETS = [f"results/tables/{t}.csv" for t in ("table1", "table2", "table3", "table14", "figure3", "table4")]


def checkout(dest):
    """A copy of the files the workflow reads (the Snakefile's tree and the library sources)."""
    for name in ("Snakefile", "rules", "config", "workflow", "envs", "src", "report"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest


def recorded_params(repo, workdir):
    jobs = plan(repo / "Snakefile", workdir, [], TARGETS)
    out = {}
    for job in jobs:
        key = (job.rule.name, tuple(sorted(job.wildcards_dict.items())))
        out[key] = job.dag.workflow.persistence._params(job)
        if job.rule.script:  # every scripted rule passes its script's import-closure version
            script = repo / "rules" / job.rule.script
            if "plan" in job.params.keys() and "level" in job.params.plan:
                # a score job: the closure with the registry's plug-ins reduced to its one method
                expected = score_code_version(job.params.plan["method"], script, repo / "src")
            elif "variant" in job.params.keys():  # an embed job: only its image variant's module
                expected = code_version(script, repo / "src", plugins=variants.code_modules(job.params.variant["name"]))
            else:
                expected = code_version(script, repo / "src")
            assert job.params.code == expected, key
    return out


def test_params_do_not_depend_on_where_the_checkout_or_workdir_lives(tmp_path):
    a = checkout((tmp_path / "a").mkdir() or tmp_path / "a")
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    b = checkout(tmp_path / "elsewhere" / "deeper")
    params_a = recorded_params(a, tmp_path / "work_a")
    params_b = recorded_params(b, tmp_path / "work_b")
    assert params_a.keys() == params_b.keys()
    rules = {rule for rule, _ in params_a}
    assert {"evaluate", "mix", "table", "train", "embed"} <= rules
    differ = {key for key in params_a if params_a[key] != params_b[key]}
    assert not differ, f"params differ between checkouts: {sorted(differ)[:5]}"
    for key, values in params_a.items():
        text = repr(values)
        assert str(tmp_path) not in text, f"{key}: a param holds an absolute path: {text[:300]}"
