"""The E-FLYT runs of config.yaml carry tiny-world learning rates, batch sizes and step counts; at
DataComp medium each must fall back on FLYT's own values (Table 7 and the Table 11/12 grids), and
the textmask detector on T-MARS's 512 px, so that a tiny setting never leaks into a real-scale run."""

import pytest

from clipcurate.train.trainers.flyt import run_train

from tests.unit.test_scale_configs import merged

# FLYT Table 7 (E-FLYT-Base, -22, -LR) and the values its Tables 11 and 12 vary
PAPER = {
    "reference_lr": {1e-5, 5e-5, 1e-4, 5e-4},
    "scorer_lr": {5e-4, 1e-3, 5e-3, 1e-2},
    "steps": {1250, 5000, 12500},
    "downstream_batch": {768, 1024, 1536, 3072, 4096},
    "upstream_batch": {4096},
}


def effective(config, run):
    """The run's training settings as the workflow layers them (flyt.train, scorer_train, the run's)."""
    return run_train(config, config["flyt"]["runs"][run])


def embedding_runs(config):
    return [r for r, spec in config["flyt"]["runs"].items() if spec["scorer"] == "embedding"]


def test_the_tiny_eflyt_runs_keep_the_base_reference_lr_and_e_flyt_base_its_temperature():
    tiny = merged("tiny")
    base_lr = tiny["flyt"]["train"]["reference_lr"]
    assert effective(tiny, "eflyt")["downstream_loss"] == "ce_temperature"   # E-FLYT-Base, as FLYT Table 7
    assert effective(tiny, "eflyt_ce")["downstream_loss"] == "ce"
    for run in ("eflyt", "eflyt_ce", "eflyt_clip", "eflyt_frozen_ref", "eflyt22_imagenet"):
        assert effective(tiny, run)["reference_lr"] == pytest.approx(base_lr), run
    # Table 11's grid: paper 5e-5 <-> the base, so its 1e-5, 1e-4, 5e-4 are 0.2x, 2x, 10x of it
    for run, factor in (("eflyt_lr_r02", 0.2), ("eflyt_lr_s1", 2.0), ("eflyt_lr_r1", 1.0), ("eflyt_lr_r10", 10.0)):
        assert effective(tiny, run)["reference_lr"] == pytest.approx(factor * base_lr), run
    assert len(embedding_runs(tiny)) >= 20  # eflyt and the appendix runs (Tables 11-13)


def test_m_flyt_mixes_the_ce_head_on_the_tiny_world_and_e_flyt_base_at_every_real_scale():
    assert merged("tiny")["scores"]["eflyt"]["flyt"] == "eflyt_ce"
    for scale in ("small", "medium", "large", "xlarge"):
        assert merged(scale)["scores"]["eflyt"]["flyt"] == "eflyt", scale
    assert merged("tiny")["scores"]["eflyt_base"]["flyt"] == "eflyt"   # Table 12's E-FLYT-Base row


def test_every_eflyt_run_at_medium_has_the_papers_values():
    med = merged("medium")
    for run in embedding_runs(med):
        train = effective(med, run)
        for key, allowed in PAPER.items():
            assert any(train[key] == pytest.approx(v) for v in allowed), (
                f"flyt.runs.{run}.train.{key} = {train[key]} at medium; FLYT uses {sorted(allowed)}")
    assert effective(med, "eflyt")["reference_lr"] == pytest.approx(5e-5)
    assert med["embed"]["variants"]["textmask"]["params"]["det_size"] == 512


def test_m_flyt_runs_train_tables_7s_scorer_budget_on_the_tiny_world_and_5000_steps_at_medium():
    tiny, med = merged("tiny"), merged("medium")
    mixers = [r for r, spec in tiny["flyt"]["runs"].items() if spec["scorer"] == "mixer"]
    assert len(mixers) >= 14 and "mflyt_ce_temperature" in mixers
    for run in mixers:
        train = run_train(tiny, tiny["flyt"]["runs"][run])
        expected = 60 if run == "mflyt_steps_60" else 600
        assert (train["steps"], train["warmup"]) == (expected, expected // 10), run
        # lr x steps of FLYT Table 7 (1e-3 x 5000) for every configured run but the 60-step comparison
        assert train["scorer_lr"] * train["steps"] == pytest.approx(6.0 if expected == 600 else 0.6), run
        assert run_train(med, med["flyt"]["runs"][run])["steps"] == (60 if run == "mflyt_steps_60" else 5000), run
    assert run_train(tiny, tiny["flyt"]["runs"]["mflyt_ce_temperature"])["downstream_loss"] == "ce_temperature"
    # E-FLYT runs keep flyt.train's 60 steps: scorer_train names only the mixers
    assert run_train(tiny, tiny["flyt"]["runs"]["eflyt"])["steps"] == tiny["flyt"]["train"]["steps"] == 60


def test_run_train_layers_flyt_train_then_the_scorer_kind_then_the_run():
    config = {"flyt": {"train": {"steps": 60, "warmup": 6, "reference_lr": 2e-4},
                       "scorer_train": {"mixer": {"steps": 600, "warmup": 60}}}}
    assert run_train(config, {"scorer": "mixer"}) == {"steps": 600, "warmup": 60, "reference_lr": 2e-4}
    assert run_train(config, {"scorer": "mixer", "train": {"steps": 60}}) == {"steps": 60, "warmup": 60, "reference_lr": 2e-4}
    assert run_train(config, {"scorer": "embedding"}) == {"steps": 60, "warmup": 6, "reference_lr": 2e-4}
    del config["flyt"]["scorer_train"]   # optional: without it every run reads flyt.train
    assert run_train(config, {"scorer": "mixer"})["steps"] == 60
