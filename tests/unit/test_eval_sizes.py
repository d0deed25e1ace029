"""Evaluation-set sizes per task (world.eval_task_sizes) and the claims configuration that uses them."""

from pathlib import Path

import pytest

from clipcurate.config import check as config_check
from clipcurate.report.uncertainty import count_test_samples
from clipcurate.world import generate as g
from clipcurate.world.verify import WorldError

REPO = Path(__file__).resolve().parents[2]


def test_eval_task_sizes_override_one_task(tmp_path):
    cfg = g.resolve_cfg({"sizes": {"eval_per_task": 12}, "eval_task_sizes": {"shapes": 30}, "shard_size": 20})
    specs = {s["name"]: s for s in g._task_specs()}
    entry, _ = g.write_eval_task(tmp_path, specs["shapes"], cfg, 0, 1, {}, set())
    other, _ = g.write_eval_task(tmp_path, specs["colours"], cfg, 0, 1, {}, set())
    assert (entry["n"], other["n"]) == (30, 12)
    # counted independently of the generator: the images in the written shards (two shards of <= 20)
    assert count_test_samples(tmp_path / "eval" / "shapes") == 30 and entry["shards"] == 2
    assert count_test_samples(tmp_path / "eval" / "colours") == 12


def test_eval_task_sizes_are_checked():
    with pytest.raises(WorldError, match="unknown task 'imagenet'; the world's tasks: shapes"):
        g.resolve_cfg({"eval_task_sizes": {"imagenet": 100}})
    with pytest.raises(WorldError, match="eval_task_sizes.shapes must be a positive integer, got 0"):
        g.resolve_cfg({"eval_task_sizes": {"shapes": 0}})
    assert g.resolve_cfg({})["eval_task_sizes"] == {}


def test_claims_config_passes_the_workflows_checks(tmp_path, capsys):
    assert config_check.main(["--repo", str(REPO), str(REPO / "config/claims.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("world:\n  eval_task_sizes: {imagenet: 5000}\n")
    assert config_check.main(["--repo", str(REPO), str(bad)]) == 1
    assert "world.eval_task_sizes: unknown task 'imagenet'" in capsys.readouterr().err
