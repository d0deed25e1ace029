"""The Devil paper's digit stage at DataComp medium, planned (no job runs): the recipe ``devil_digits``
samples BLIP-2's counts (``digits_blip2``) over the row after SemDeDup, its chunk jobs read the pool's
image shards and the BLIP-2 folder and ask for one GPU, and nothing of the tiny world's digit
detector is planned.

The pool is a listing of 200 shard names (2 chunks of 100); the files a user provides at real scale
(the BLIP-2 and BLIP folders, NLTK's tagger, ImageNet-train shards) are empty stand-ins, since no job
reads them."""

from pathlib import Path

import yaml

from .plan import plan

REPO = Path(__file__).resolve().parents[2]
PROVIDED_DIRS = ("resources/blip2-opt-2.7b", "resources/blip-itm-base-coco", "resources/imagenet_train")
PROVIDED_FILES = ("resources/nltk_data/taggers/averaged_perceptron_tagger_eng/averaged_perceptron_tagger_eng.weights.json",)


def test_medium_plans_the_digit_stage_from_blip2(tmp_path):
    (tmp_path / "shards.txt").write_text("".join(f"{i:08d}.tar\n" for i in range(200)))
    (tmp_path / "metadata").mkdir()
    (tmp_path / "eval").mkdir()
    work = tmp_path / "work"
    for d in PROVIDED_DIRS:
        (work / d).mkdir(parents=True)
    (work / PROVIDED_DIRS[0] / "config.json").write_text("{}")  # the start-up check looks for it
    for f in PROVIDED_FILES:
        (work / f).parent.mkdir(parents=True, exist_ok=True)
        (work / f).write_text("")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "pool": {"source": "datacomp", "metadata_dir": str(tmp_path / "metadata"), "shard_list": str(tmp_path / "shards.txt")},
        "evaluation": {"data_root": str(tmp_path / "eval")},
    }))
    jobs = plan(REPO / "Snakefile", work, [REPO / "config/scales/medium.yaml", site], ["results/subsets/devil_digits.parquet"])
    outputs = {str(o): j for j in jobs for o in j.output}
    assert "results/subsets/devil_digits.parquet" in outputs
    chunks = [outputs[f"results/scores/digits_blip2/chunks/{c:05d}.parquet"] for c in (0, 1)]
    for job in chunks:
        assert job.rule.name == "score_chunk"
        assert {"results/pool/shards", "resources/blip2-opt-2.7b", "results/scores/devil_semdedup.parquet"} <= set(map(str, job.input))
        assert job.resources["gpu"] == 1 and job.resources["mem_mb"] == 32000 and job.threads == 8
    devil_digits = outputs["results/scores/devil_digits.parquet"]
    assert "results/scores/digits_blip2.parquet" in set(map(str, devil_digits.input))
    # the tiny world's detector and its score are not part of the real-scale chain
    assert not any("digit_detectors" in o or o.startswith("results/scores/digits/") or o == "results/scores/digits.parquet"
                   for o in outputs), sorted(o for o in outputs if "digit" in o)
