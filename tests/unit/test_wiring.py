"""The rules' view of the config (clipcurate.config.wiring), tested without Snakemake: what each
input function, param and resource helper gives for the shipped config and for crafted changes."""

import copy
from types import SimpleNamespace as W

import pytest
import yaml
from pathlib import Path

from clipcurate.config import check as config_check
from clipcurate.config.expand import expand_config, quality_points
from clipcurate.config.wiring import Wiring, parse_time_check
from snakemake.utils import update_config

REPO = Path(__file__).resolve().parents[2]


def _config(*files, **override):
    cfg: dict = {}
    for f in ("config/config.yaml", "config/scales/tiny.yaml", *files):
        update_config(cfg, yaml.safe_load((REPO / f).read_text()))
    update_config(cfg, copy.deepcopy(override))
    config_check.prepare(cfg, REPO)
    return cfg


@pytest.fixture(scope="module")
def tiny():
    return Wiring(_config(), REPO)


def test_chunks_come_from_the_pool_layout(tiny):
    # 20000 samples / 500 per shard = 40 shards; 5 shards per chunk (tiny.yaml) -> 8 chunks
    scale = tiny.scale
    shards = -(-tiny.config["world"]["pool_size"] // scale["samples_per_shard"])
    assert tiny.chunks == [f"{c:05d}" for c in range(-(-shards // scale["chunk_shards"]))]
    assert len(tiny.chunks) >= 2


def test_shard_list_counts_its_lines_and_a_missing_one_is_a_config_error(tmp_path):
    listing = tmp_path / "shards.txt"
    listing.write_text("a.tar\n\nb.tar\nc.tar\n")
    cfg = copy.deepcopy(_config())
    cfg["pool"] = {"source": "datacomp", "shard_list": str(listing)}
    assert Wiring(cfg, REPO).num_shards() == 3
    cfg["pool"]["shard_list"] = str(tmp_path / "nope.txt")
    with pytest.raises(config_check.ConfigError, match=r"^config: pool\.shard_list: cannot read .*nope\.txt"):
        Wiring(cfg, REPO)


def test_trained_models_point_at_their_weights(tiny):
    assert tiny.model_spec("dfn") == {"arch": "tiny-clip", "pretrained": "results/models/dfn/open_clip_pytorch_model.bin"}
    assert tiny.model_files("dfn") == ["results/models/dfn/open_clip_pytorch_model.bin"]
    # nofilter: weights trained by this workflow on the unfiltered pool (a results/ path)
    assert tiny.model_files("nofilter") == [tiny.config["models"]["nofilter"]["pretrained"]]
    # DFN-FT starts from the DFN's weights, trained here
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        tiny.model_spec("nope")


def test_resources_are_cpu_on_the_tiny_world_and_gpu_elsewhere(tiny):
    assert tiny.gpu_resources(1000, 5) == {"mem_mb": 1000, "runtime": 5}
    cfg = copy.deepcopy(tiny.config)
    cfg["scale"] = {**cfg["scale"], "name": "small", "job_threads": 4}
    cfg["slurm"] = {"gpu": {"partition": "g", "account": "acc"}, "cpu": {"partition": "c"}}
    w = Wiring(cfg, REPO)
    assert w.gpu_resources(1000, 5, gpus=8) == {"mem_mb": 1000, "runtime": 5, "gpu": 8, "cpus_per_gpu": 4, "tasks_per_gpu": 0,
                                                 "slurm_partition": "g", "slurm_account": "acc"}
    assert w.cpu_resources(10, 1) == {"mem_mb": 10, "runtime": 1, "slurm_partition": "c"}


def test_score_gather_reads_the_chunks_or_every_input(tiny):
    from clipcurate.scores.stages import stage_path

    gather = tiny.score_stage_inputs("gather")
    chunked = gather(W(score="clip_score"))
    assert chunked["chunks"] == [stage_path("clip_score", "apply", c) for c in tiny.chunks]
    pooled = gather(W(score="clip_b32_top30"))  # a pool-level method reads its input score file whole
    assert pooled == {"index": "results/pool/index.parquet", "scores": ["results/scores/clip_score.parquet"]}


def test_trainer_rules_derive_inputs_params_and_constraints(tiny):
    from clipcurate.train import trainers

    mflyt, eflyt = trainers.get("train_mflyt"), trainers.get("train_eflyt")
    mixers = tiny.trainer_constraints(mflyt)["flyt"].split("|")
    assert "mflyt" in mixers and "mflyt_no_eflyt" in mixers and "eflyt" not in mixers
    heads = tiny.trainer_constraints(eflyt)["flyt"].split("|")  # E-FLYT-Base and the appendix's E-FLYT runs
    assert "eflyt" in heads and "eflyt_lr_s05" in heads and "mflyt" not in heads
    mixer = tiny.trainer_inputs(mflyt)(W(flyt="mflyt_sclip"))  # M-FLYT over s-CLIPLoss and NormSim's inf column
    assert mixer["scores"] == ["results/scores/sclip_loss.parquet", "results/scores/normsim.parquet"]
    assert "embedder" not in mixer and mixer["downstream"] == "resources/world"
    assert mixer["index"] == "results/pool/index.parquet" and mixer["shards"] == "results/pool/shards"
    head = tiny.trainer_params(eflyt)["run"](W(flyt="eflyt"))
    assert head["embed_spec"] == tiny.model_spec("openai")
    assert head["train"]["downstream_loss"] == "ce_temperature"  # the run's override
    assert head["train"]["steps"] == tiny.config["flyt"]["train"]["steps"]  # the shared default
    # a reference model: the world, and the weights it starts from when made here (DFN-FT from the DFN)
    ref = trainers.get("train_reference_model")
    assert tiny.trainer_inputs(ref)(W(model="dfn_ft")) == {"world": "resources/world", "init": "results/models/dfn/open_clip_pytorch_model.bin"}
    assert tiny.trainer_params(ref)["sets"](W(model="dfn_ft")) == {"downstream": "resources/world/reference/downstream",
                                                                  "retrieval_train": "resources/world/reference/retrieval_train"}
    # a data-quality DFN replaces part of its set by pool data: the pool is an input
    assert tiny.trainer_inputs(ref)(W(model="dfn_q050_s0"))["shards"] == "results/pool/shards"
    assert "openai" in tiny.trainer_constraints(ref)["model"].split("|") and "nofilter" not in tiny.trainer_constraints(ref)["model"].split("|")
    clf = tiny.trainer_inputs(trainers.get("train_classifier"))(W(classifier="hq_vs_pool"))
    assert clf == {"positive": "results/reference_embeddings/openai/hq.parquet",
                   "embeddings": [f"results/embeddings/openai/{c}.parquet" for c in tiny.chunks]}
    assert tiny.trainer_resources(ref) == {"mem_mb": 16000, "runtime": 24 * 60}  # a CPU job on the tiny world


def test_table_figures_follow_scores_mixes_and_trained_artifacts(tiny):
    cfg = copy.deepcopy(tiny.config)
    cfg["tables"]["t"] = {"rows": [{"recipe": "r", "label": "R"}], "columns": ["ImageNet"]}
    cfg["recipes"]["r"] = {"label": "R", "mix": "mflyt", "sample": {"method": "threshold", "fraction": 0.3}}
    cfg["flyt"]["runs"]["mflyt"]["inputs"] = ["clip_score", "eflyt"]
    figs = Wiring(cfg, REPO).table_figures("t")
    # the M-FLYT mix reads its mixer (run mflyt), whose inputs include the eflyt score, read from
    # the E-FLYT head (run eflyt) over openai's embeddings; mflyt's reference model is nofilter
    assert figs["scores"] == ["results/figures/scores/clip_score.png", "results/figures/scores/eflyt.png"]
    # openai (the OpenAI-CLIP analogue) is trained here on the tiny world; nofilter is a subset's model
    assert figs["trained"] == ["results/figures/flyt/eflyt_ce.png", "results/figures/flyt/mflyt.png", "results/figures/models/openai.png"]
    assert figs["train"] == ["results/figures/train/r.png"]


def test_oracle_rows_are_dropped_at_real_scale(tiny):
    cfg = copy.deepcopy(tiny.config)
    cfg["pool"] = {"source": "datacomp", "metadata_dir": "/m"}
    cfg["tables"]["t"] = {"rows": [{"recipe": "clip_score_top30", "label": "A"}, {"recipe": "o", "label": "O"}], "columns": ["ImageNet"]}
    cfg["recipes"]["o"] = {"label": "O", "score": "truth_clean", "sample": {"method": "keep"}}
    w = Wiring(cfg, REPO)
    kept, dropped = w.table_rows("t")
    assert [r["recipe"] for r in kept] == ["clip_score_top30"] and [r["recipe"] for r in dropped] == ["o"]
    assert w.table_dropped(W(table="t")) == [{"label": "O", "recipe": "o", "oracles": ["truth_clean"]}]


def test_the_quality_experiment_expands_before_the_checks_and_its_points_are_stable():
    cfg = _config()
    points = quality_points(cfg)
    # replaced [0, .25, .5, .75, 1] at seed 0, each trained as dfn_quality.train says (so the 0 % point is
    # trained anew, not the base itself), then the variants
    replaced = [p for p in points if p["kind"] == "replaced"]
    assert [p["replaced"] for p in replaced] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert replaced[0]["model"] == "dfn_q000_s0" and replaced[0]["model"] != cfg["dfn_quality"]["base"]
    assert [p["name"] for p in points if p["kind"] == "variant"] == [f"dfn_{v['name']}_s0" for v in cfg["dfn_quality"]["variants"]]
    assert points[1]["model"] == "dfn_q025_s0" and cfg["models"]["dfn_q025_s0"]["train"]["replace_with_pool"] == 0.25
    assert expand_config(cfg) == points  # expanding again changes nothing
    assert Wiring(cfg, REPO).dfn_quality_inputs(None)["dfn_evals"][1] == "results/eval/models/dfn_q025_s0.jsonl"


def test_parse_time_check_reads_the_suite(tmp_path):
    cfg = copy.deepcopy(_config())
    assert parse_time_check(cfg, REPO).suite_content()["tasks"]
