"""Adding or editing a score method, an image variant or a trainer reruns exactly the jobs that use it.

A copy of the workflow plans a few scores and a mix on the micro config; every output of that DAG is
faked (created empty, then ``snakemake --touch --forceall`` records each job's params and code
version as if it had run). Then plug-ins are added and edited in the copy, and Snakemake's own
``--summary`` says, per output file, why it would rerun ("params changed": the job's code version or
params differ from the recorded ones) and whether it is pending. Trainers are not plug-ins yet: the
trainer case is the classifier trainer (rules/models.smk ``train_classifier``), given a new config
entry and an edited script.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.io import is_flagged

from .plan import plan
from .test_params_portable import checkout
from .test_slurm import REPO

pytestmark = pytest.mark.workflow

MICRO = REPO / "tests" / "workflow" / "micro.yaml"
CHUNKS = ("00000", "00001")  # the micro pool: 8 shards, 4 per chunk
TARGETS = [f"results/scores/{s}.parquet" for s in ("clip_score", "clip_score_hflip", "hq_classifier", "basic")] + [
    "results/mixes/sum.parquet"]  # sum = clip_score + eflyt (its head trained by train_eflyt; BASE below)
#: FLYT's aggregations mix twelve inputs; here `sum` mixes two, so that the DAG stays small
BASE = {"mixes": {"sum": {"method": "sum", "inputs": ["clip_score", "eflyt"]}}}
NEW_TARGETS = ["results/scores/probe.parquet", "results/scores/probe_cls.parquet"]

NEW_METHOD = '''"""A score method added by the test: the CLIP score negated."""
import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Embeddings


@register("probe_method", level="chunk", inputs={"emb": Embeddings()}, outputs=("score",))
def probe_method(params, emb):
    return {"score": -np.einsum("ij,ij->i", emb["image"], emb["text"])}
'''
NEW_VARIANT = '''"""An image variant added by the test: a box blur, with a parameter and an artifact."""
from clipcurate.embed.variants import register


@register("probe_blur", defaults={"radius": 1, "weights": "resources/probe_weights.bin"}, artifacts={"weights": "{weights}"})
def probe_blur(image, params, artifacts):
    from PIL import ImageFilter

    return image.filter(ImageFilter.BoxBlur(params["radius"]))
'''


def overlay(radius=1):
    return {
        "embed": {"batch_size": 256, "dtype": "float32", "variants": {"probe_blur": {"params": {"radius": radius}}}},
        "scores": {"probe": {"method": "probe_method", "model": "openai", "variant": "probe_blur"},
                   "probe_cls": {"method": "binary_classifier", "model": "openai", "classifier": "probe_vs_pool"}},
        "classifiers": {"probe_vs_pool": {"model": "openai", "positive": "hq", "features": "image", "steps": 10,
                                          "batch_size": 32, "lr": 0.01, "warmup": 1}},
    }


def append(path: Path, text="\n# edited\n"):
    path.write_text(path.read_text() + text)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A copy of the workflow whose TARGETS' DAG is complete: every output exists and is recorded."""
    root = tmp_path_factory.mktemp("isolation")
    repo = checkout((root / "repo").mkdir() or root / "repo")
    work = root / "work"
    base = root / "base.yaml"
    base.write_text(yaml.safe_dump(BASE))
    for job in plan(repo / "Snakefile", work, [MICRO, base], TARGETS):
        for f in job.output:
            if is_flagged(f, "directory"):
                (work / f).mkdir(parents=True, exist_ok=True)
            else:
                (work / f).parent.mkdir(parents=True, exist_ok=True)
                (work / f).touch()
    smk = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(work), "--notemp"]

    def run(*args, config=()):
        proc = subprocess.run([*smk, "--configfile", str(MICRO), str(base), *map(str, config), *args], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    run("--touch", "--forceall", "--cores", "1", *TARGETS)
    return repo, work, run


def summary(run, targets, config=()) -> dict[str, tuple[str, str, str]]:
    """output file -> (rule, status, plan) from ``snakemake --summary``."""
    lines = run("--summary", *targets, config=config).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
    return {f: (rule, status, pending) for f, _, rule, _, status, pending in (line.split("\t") for line in lines[start + 1:] if line)}


def changed(table):
    return {f for f, (_, status, _) in table.items() if status in ("params changed", "rule implementation changed")}


def pending(table):
    return {f for f, (_, _, p) in table.items() if p == "update pending"}


def chunks(pattern):
    return {pattern.format(c) for c in CHUNKS}


def test_adding_and_editing_plugins_reruns_exactly_their_jobs(workflow):
    repo, work, run = workflow
    src = repo / "src" / "clipcurate"
    # 1. add a score method, an image variant and a classifier (with config entries that use them):
    # nothing that exists reruns; the new scores need exactly their own jobs
    (src / "scores" / "methods" / "probe_method.py").write_text(NEW_METHOD)
    (src / "embed" / "variants" / "probe_blur.py").write_text(NEW_VARIANT)
    (work / "resources" / "probe_weights.bin").write_bytes(b"weights")
    cfg = work / "overlay.yaml"
    cfg.write_text(yaml.safe_dump(overlay(radius=1)))
    added = summary(run, TARGETS + NEW_TARGETS, config=[cfg])
    new_jobs = (chunks("results/embeddings/openai/probe_blur/{}.parquet")  # embed_variant: the variant's images only
                | chunks("results/scores/probe/chunks/{}.parquet") | {"results/scores/probe.parquet"}
                | {"results/classifiers/probe_vs_pool/classifier.pt", "results/classifiers/probe_vs_pool/train_info.json"}
                | chunks("results/scores/probe_cls/chunks/{}.parquet") | {"results/scores/probe_cls.parquet"})
    assert pending(added) == new_jobs
    assert not changed(added)
    assert {added[f][0] for f in chunks("results/embeddings/openai/probe_blur/{}.parquet")} == {"embed_variant"}

    # fake the new jobs too (forcing only the rules of the new jobs: their upstream stays as it is)
    for f in new_jobs:
        (work / f).parent.mkdir(parents=True, exist_ok=True)
        (work / f).touch()
    run("--touch", "--cores", "1", "--forcerun", "embed_variant", "score_chunk", "score", "train_classifier", "--",
        *NEW_TARGETS, config=[cfg])

    # 2. edit a method (clip_score), a variant (hflip), the classifier trainer's script, and a variant
    # parameter in config: exactly their jobs change, and only what reads their outputs is pending
    append(src / "scores" / "methods" / "clip_score.py")
    append(src / "embed" / "variants" / "hflip.py")
    append(repo / "workflow" / "scripts" / "train_classifier.py")
    cfg.write_text(yaml.safe_dump(overlay(radius=2)))
    edited = summary(run, TARGETS + NEW_TARGETS, config=[cfg])
    direct = (
        # clip_score's method module: the chunk jobs and the gathering job of both scores using it
        chunks("results/scores/clip_score/chunks/{}.parquet") | {"results/scores/clip_score.parquet"}
        | chunks("results/scores/clip_score_hflip/chunks/{}.parquet") | {"results/scores/clip_score_hflip.parquet"}
        | chunks("results/embeddings/openai/hflip/{}.parquet")  # hflip's module: its embed jobs, not plain's
        | {f"results/classifiers/{c}/{f}" for c in ("hq_vs_pool", "probe_vs_pool") for f in ("classifier.pt", "train_info.json")}
        | chunks("results/embeddings/openai/probe_blur/{}.parquet")  # the variant's changed parameter
    )
    assert changed(edited) == direct
    downstream = (
        {"results/mixes/sum.parquet"}
        | chunks("results/scores/hq_classifier/chunks/{}.parquet") | {"results/scores/hq_classifier.parquet"}
        | chunks("results/scores/probe_cls/chunks/{}.parquet") | {"results/scores/probe_cls.parquet"}
        | chunks("results/scores/probe/chunks/{}.parquet") | {"results/scores/probe.parquet"}
    )
    assert pending(edited) == direct | downstream  # so the faked DAG was complete, the new jobs' records too
    untouched = {f for f, (rule, _, _) in edited.items() if rule in ("embed", "embed_reference", "train_eflyt", "train_reference_model")}
    assert untouched and not untouched & pending(edited)


def test_variant_params_and_artifacts_reach_the_embed_rule(tmp_path):
    """A variant's params (its defaults overridden by embed.variants) are the embed job's `variant`
    param and its artifact an input, and the {variant} wildcard derives from the registry (the
    Snakefile is planned in this process, where the test variant is registered)."""
    from clipcurate.embed import variants

    namespace = {"__name__": "clipcurate.embed.variants.probe_blur"}
    variants.names()
    exec(compile(NEW_VARIANT, "probe_blur.py", "exec"), namespace)
    try:
        (tmp_path / "work" / "resources").mkdir(parents=True)
        (tmp_path / "work" / "resources" / "probe_weights.bin").write_bytes(b"weights")
        cfg = tmp_path / "overlay.yaml"
        cfg.write_text(yaml.safe_dump({"embed": overlay(radius=4)["embed"],
                                       "scores": {"probe": {"method": "clip_score", "model": "openai", "variant": "probe_blur"}}}))
        jobs = plan(REPO / "Snakefile", tmp_path / "work", [MICRO, cfg], ["results/scores/probe.parquet"])
    finally:
        variants.REGISTRY.pop("probe_blur", None)
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job.rule.name, []).append(job)
    embeds = sorted(by_rule["embed_variant"], key=lambda j: j.wildcards_dict["chunk"])
    assert [j.wildcards_dict["chunk"] for j in embeds] == list(CHUNKS)
    for job in embeds:
        assert job.wildcards_dict["variant"] == "probe_blur"
        assert job.params.variant == {"name": "probe_blur", "params": {"radius": 4, "weights": "resources/probe_weights.bin"},
                                      "artifacts": {"weights": "resources/probe_weights.bin"}}
        assert "resources/probe_weights.bin" in job.input
    # the plain embeddings are there for the text vectors
    plain = by_rule["embed"]
    assert {j.wildcards_dict["chunk"] for j in plain} == set(CHUNKS)
    assert all(j.params.variant == {"name": "plain", "params": {}, "artifacts": {}} for j in plain)
    assert {j.wildcards_dict["chunk"] for j in by_rule["score_chunk"]} == set(CHUNKS)
