"""HYPE at DataComp medium, planned (no job runs): the score ``hype`` is ``hype_checkpoint`` on HYPE's
released checkpoint (a user-provided file, an empty stand-in here since no job reads it): one fit job
that reads ImageNet-train's shards and the checkpoint, then per-chunk jobs that read the pool's image
shards, the checkpoint and the fit, each asking for one GPU; the mixes read its columns, and nothing of
the tiny world's hyperbolic towers (train_hyperbolic, stored embeddings) is planned. Without the file
the plan stops, naming it.

The pool is a listing of 200 shard names (2 chunks of 100)."""

from pathlib import Path

import pytest
import yaml

from .plan import plan

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = "resources/hype_vitl14.pt"


def _setup(tmp_path, with_checkpoint=True):
    (tmp_path / "shards.txt").write_text("".join(f"{i:08d}.tar\n" for i in range(200)))
    (tmp_path / "metadata").mkdir()
    (tmp_path / "eval").mkdir()
    work = tmp_path / "work"
    (work / "resources/imagenet_train").mkdir(parents=True)
    if with_checkpoint:
        (work / CHECKPOINT).write_text("")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "pool": {"source": "datacomp", "metadata_dir": str(tmp_path / "metadata"), "shard_list": str(tmp_path / "shards.txt")},
        "evaluation": {"data_root": str(tmp_path / "eval")},
    }))
    return work, [REPO / "config/scales/medium.yaml", site]


def test_medium_plans_hype_from_the_released_checkpoint(tmp_path):
    work, configs = _setup(tmp_path)
    jobs = plan(REPO / "Snakefile", work, configs, ["results/mixes/hype_sum.parquet"])
    outputs = {str(o): j for j in jobs for o in j.output}
    fit = outputs["results/scores/hype/fit.npz"]
    assert fit.rule.name == "score_fit"
    assert {"resources/imagenet_train", CHECKPOINT} <= set(map(str, fit.input))
    assert fit.resources["gpu"] == 1 and fit.threads == 8
    for c in (0, 1):
        job = outputs[f"results/scores/hype/chunks/{c:05d}.parquet"]
        assert job.rule.name == "score_chunk"
        assert {"results/pool/shards", CHECKPOINT, "results/scores/hype/fit.npz"} <= set(map(str, job.input))
        assert job.resources["gpu"] == 1 and job.resources["mem_mb"] == 16000 and job.threads == 8
    assert "results/scores/hype.parquet" in set(map(str, outputs["results/mixes/hype_sum.parquet"].input))
    # the tiny world's path (towers over stored embeddings) is not part of the real-scale chain
    assert not any(o.startswith(("results/hyperbolic/", "results/embeddings/", "results/reference_embeddings/"))
                   for o in outputs), sorted(outputs)


def test_medium_without_the_checkpoint_stops_naming_it(tmp_path):
    from snakemake.exceptions import MissingInputException

    work, configs = _setup(tmp_path, with_checkpoint=False)
    with pytest.raises(MissingInputException, match="hype_vitl14.pt"):
        plan(REPO / "Snakefile", work, configs, ["results/scores/hype.parquet"])
