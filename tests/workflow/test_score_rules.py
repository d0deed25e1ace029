"""The score rules derived from method declarations, planned by dry runs (no data needed)."""

import numpy as np
import yaml

from clipcurate import io
from tests.workflow.test_workflow import run_smk


def dry(tmp_path, overlay, *targets, check=True):
    cfg = tmp_path / "overlay.yaml"
    cfg.write_text(yaml.safe_dump(overlay))
    proc = run_smk(tmp_path, "--configfile", str(cfg), "-n", *targets, check=check)
    return proc.returncode, proc.stdout + proc.stderr


def test_an_import_is_planned_with_its_file_and_coverage_report(tmp_path):
    with open(tmp_path / "published.npy", "wb") as f:
        np.save(f, io.uids_to_pairs(["0" * 32]))
    overlay = {"scores": {"published": {"method": "import_subset", "file": "published.npy"}},
               "recipes": {"published_keep": {"label": "Published subset", "score": "published", "sample": {"method": "keep"}}}}
    rc, out = dry(tmp_path, overlay, "results/subsets/published_keep.parquet")
    assert rc == 0
    assert "rule score_reported:" in out and "results/scores/published.report.json" in out and "published.npy" in out
    assert "rule score_chunk:" not in out and "rule embed:" not in out  # reads the shards' metadata only


def test_a_flipped_variant_is_embedded_by_its_own_jobs(tmp_path):
    rc, out = dry(tmp_path, {}, "results/scores/clip_score_hflip.parquet")
    assert rc == 0 and "results/embeddings/openai/hflip/00003.parquet" in out and "rule embed_variant:" in out
    assert "rule embed:" not in out  # the plain embeddings are not needed


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


def test_repeat_counts_are_planned_through_a_mix_and_refused_where_missing(tmp_path):
    # a published list with repeats (import_subset's count), kept where the basic filter keeps the
    # sample (filter_counts), sampled as is (counts): the Snakefile plans it; a counts recipe over a
    # score without counts is refused when the workflow is parsed, naming the recipe key
    with open(tmp_path / "published.npy", "wb") as f:
        np.save(f, io.uids_to_pairs(["0" * 32, "0" * 32]))
    overlay = {"scores": {"published": {"method": "import_subset", "file": "published.npy"}},
               "mixes": {"dup": {"method": "filter_counts", "inputs": ["published:count", "basic:keep"],
                                 "params": {"counts": "published:count"}}},
               "recipes": {"dup": {"label": "Published, repeated", "mix": "dup", "sample": {"method": "counts"}}}}
    rc, out = dry(tmp_path, overlay, "results/subsets/dup.parquet")
    assert rc == 0, out
    assert "rule mix:" in out and "results/mixes/dup.parquet" in out and "results/scores/basic.parquet" in out
    bad = {"recipes": {"dup": {"label": "X", "score": "clip_score", "sample": {"method": "counts"}}}}
    rc, out = dry(tmp_path, bad, "results/subsets/dup.parquet", check=False)
    assert rc != 0 and "recipes.dup.sample.method: 'counts' needs a count column (repeat counts), but score 'clip_score'" in out
