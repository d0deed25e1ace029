"""The score rules derived from method declarations, planned by dry runs (no data needed)."""

import numpy as np
import yaml

from clipcurate.core import uidcodec
from tests.workflow.test_workflow import run_smk


def dry(tmp_path, overlay, *targets, check=True):
    cfg = tmp_path / "overlay.yaml"
    cfg.write_text(yaml.safe_dump(overlay))
    proc = run_smk(tmp_path, "--configfile", str(cfg), "-n", *targets, check=check)
    return proc.returncode, proc.stdout + proc.stderr


def test_an_import_is_planned_with_its_file_and_coverage_report(tmp_path):
    with open(tmp_path / "published.npy", "wb") as f:
        np.save(f, uidcodec.uids_to_pairs(["0" * 32]))
    overlay = {"scores": {"published": {"method": "import_subset", "file": "published.npy"}},
               "recipes": {"published_keep": {"label": "Published subset", "score": "published", "sample": {"method": "keep"}}}}
    rc, out = dry(tmp_path, overlay, "results/subsets/published_keep.parquet")
    assert rc == 0
    assert "rule score_reported:" in out and "results/scores/published.report.json" in out and "published.npy" in out
    assert "rule score_chunk:" not in out and "rule embed:" not in out  # reads the shards' metadata only


def test_a_flipped_variant_is_embedded_by_its_own_jobs(tmp_path):
    rc, out = dry(tmp_path, {}, "results/scores/clip_score_hflip.parquet")
    assert rc == 0 and "results/embeddings/openai/hflip/00003.parquet" in out and "rule embed_variant:" in out
    # the flipped images' vectors pair with the plain embeddings' text vectors (captions encoded once)
    assert "rule embed:" in out and "output: results/embeddings/openai/00003.parquet" in out


def test_workflow_errors_name_the_score_key(tmp_path):
    rc, out = dry(tmp_path, {"scores": {"clip_score": {"method": "clip_score", "model": "openai", "flyt": "eflyt"}}}, check=False)
    assert rc != 0 and "scores.clip_score.flyt: not an input of method 'clip_score'" in out
    rc, out = dry(tmp_path, {"scores": {"published": {"method": "import_subset"}}}, check=False)
    assert rc != 0 and "scores.published.file: required by method 'import_subset'" in out


def test_reference_sets_are_embedded_per_model(tmp_path):
    rc, out = dry(tmp_path, {}, "results/reference_embeddings/openai/downstream.parquet")
    assert rc == 0 and "rule embed_reference:" in out and "resources/world" in out
    user = tmp_path / "my_hq"
    user.mkdir()
    rc, out = dry(tmp_path, {"reference_sets": {"my_hq": str(user)}}, "results/reference_embeddings/openai/my_hq.parquet")
    assert rc == 0 and str(user) in out


def test_real_scale_scores_read_the_users_shards_and_ask_their_declared_resources(tmp_path):
    """With pool.shards_dir the metadata-reading scores (basic, text_based, image_based, laion) are
    planned on the user's shards (results/pool/shards does not exist there), and each score job asks
    Slurm for its method's declared resources per stage, as the scale file overrides them."""
    from tests.workflow.plan import plan
    from tests.workflow.test_slurm import REPO

    for d in ("shards", "metadata", "eval", "imagenet", "work/resources"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "work/resources/lid.176.bin").write_bytes(b"")  # image_based's lid_model: an input of its jobs
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "pool": {"source": "datacomp", "shards_dir": str(tmp_path / "shards"), "metadata_dir": str(tmp_path / "metadata")},
        "evaluation": {"data_root": str(tmp_path / "eval")},
        "reference_sets": {"downstream": str(tmp_path / "imagenet")},
    }))
    targets = [f"results/scores/{s}.parquet" for s in ("basic", "text_based", "image_based", "laion")]
    jobs = plan(REPO / "Snakefile", tmp_path / "work", [REPO / "config/scales/small.yaml", site], targets)
    inputs = {str(f) for j in jobs for f in j.input}
    assert "results/pool/shards" not in inputs and str(tmp_path / "shards") in inputs
    by = {}
    for j in jobs:
        by.setdefault((j.rule.name, j.wildcards.get("score")), []).append(j)
    for score in ("basic", "text_based", "image_based"):
        assert all(str(tmp_path / "shards") in map(str, j.input) for j in by[("score_chunk" if score != "image_based" else "score_prepare", score)])
    assert str(tmp_path / "shards") in map(str, by[("score", "laion")][0].input)
    # image_based at small: the fit on one GPU node (config/scales/small.yaml), the rest as declared
    (fit,) = by[("score_fit", "image_based")]
    assert fit.threads == 16 and fit.resources["gpu"] == 1 and fit.resources["mem_mb"] == 64000
    assert fit.resources["cpus_per_gpu"] == 16 and fit.resources["runtime"] == 240
    apply = by[("score_chunk", "image_based")]
    assert len(apply) == len(by[("score_prepare", "image_based")]) == 13
    assert {(j.threads, j.resources["mem_mb"], j.resources.get("gpu", 0)) for j in apply} == {(4, 8000, 0)}
    # a method that declares nothing keeps the defaults (clipcurate.scores.stages.DEFAULT_RESOURCES)
    assert {(j.threads, j.resources["mem_mb"]) for j in by[("score_chunk", "basic")]} == {(1, 8000)}
    assert (by[("score", "basic")][0].threads, by[("score", "basic")][0].resources["mem_mb"]) == (1, 16000)


def test_repeat_counts_are_planned_through_a_mix_and_refused_where_missing(tmp_path):
    # a published list with repeats (import_subset's count), kept where the basic filter keeps the
    # sample (filter_counts), sampled as is (counts): the Snakefile plans it; a counts recipe over a
    # score without counts is refused when the workflow is parsed, naming the recipe key
    with open(tmp_path / "published.npy", "wb") as f:
        np.save(f, uidcodec.uids_to_pairs(["0" * 32, "0" * 32]))
    overlay = {"scores": {"published": {"method": "import_subset", "file": "published.npy", "params": {"repeats": "count"}}},
               "mixes": {"dup": {"method": "filter_counts", "inputs": ["published:count", "basic:keep"],
                                 "params": {"counts": "published:count"}}},
               "recipes": {"dup": {"label": "Published, repeated", "mix": "dup", "sample": {"method": "counts"}}}}
    rc, out = dry(tmp_path, overlay, "results/subsets/dup.parquet")
    assert rc == 0, out
    assert "rule mix:" in out and "results/mixes/dup.parquet" in out and "results/scores/basic.parquet" in out
    bad = {"recipes": {"dup": {"label": "X", "score": "clip_score", "sample": {"method": "counts"}}}}
    rc, out = dry(tmp_path, bad, "results/subsets/dup.parquet", check=False)
    assert rc != 0 and "recipes.dup.sample.method: 'counts' needs a count column (repeat counts), but score 'clip_score'" in out
