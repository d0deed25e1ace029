"""The Devil paper's configs (config/scores/devil_cross.yaml, devil_stages.yaml, config/recipes/devil.yaml,
config/tables/devil_flip.yaml, devil_stages.yaml) pass every start-up check of the workflow, and the
stage table is built as the paper orders it.

The stage scores read entries other branches add (the dedup stage, the single-modality rules, CIDS,
quality duplication, digits) under agreed names. Where one is not configured yet it is stood in for by
a stub method with the agreed output columns, so the check covers everything else; once the real
entries are there the test checks them (their columns included) instead."""

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from clipcurate.config import check as config_check
from clipcurate.scores import register
from clipcurate.scores.inputs import Metadata

REPO = Path(__file__).resolve().parents[2]

#: the agreed names of the other branches' entries, and the column each stage reads
AGREED = {
    "exact_dup": "keep", "near_dup": "keep", "decontam": "keep", "semdedup": "keep",
    "devil_text_rules": "keep", "devil_image_rules": "keep",
    "cids": "count", "quality_dup_12": "count", "quality_dup_13": "count", "digits": "count",
}
OWN = {"clip_hflip_keep", "flip_itm", "clip_score_hflip", "itm"}
STAGES = ["devil_dedup", "devil_text", "devil_image", "devil_flip", "devil_itm", "devil_cids", "devil_qdup12",
          "devil_semdedup", "devil_digits"]


@register("_devil_stub_keep", level="chunk", inputs={"meta": Metadata(columns=("text",))}, outputs=("keep",))
def _stub_keep(params, meta):  # pragma: no cover - planned, never run
    return {"keep": np.ones(meta.num_rows, bool)}


@register("_devil_stub_count", level="chunk", inputs={"meta": Metadata(columns=("text",))}, outputs=("count",))
def _stub_count(params, meta):  # pragma: no cover - planned, never run
    return {"count": np.ones(meta.num_rows, np.uint32)}


def shipped_config(stubs=True):
    config = {}
    for p in (REPO / "config" / "config.yaml", REPO / "config" / "scales" / "tiny.yaml"):
        config_check._deep_update(config, yaml.safe_load(p.read_text()))
    for section in config_check.NAMED_SECTIONS:
        config_check.merge_named_files(config, REPO, section)
    if stubs:
        for name, column in AGREED.items():
            config["scores"].setdefault(name, {"method": f"_devil_stub_{column}"})
    return config


def test_devil_configs_pass_the_start_up_checks():
    config = shipped_config()
    config_check.prepare(config, REPO)


def test_stage_scores_read_only_agreed_or_own_names_with_the_agreed_columns():
    stages = yaml.safe_load((REPO / "config" / "scores" / "devil_stages.yaml").read_text())
    for name, entry in stages.items():
        for ref in entry["inputs"]:
            score, column = ref.split(":")
            assert score in AGREED or score in OWN or score in stages, (name, ref)
            if score in AGREED:
                assert column == AGREED[score], (name, ref)


def test_each_row_adds_one_stage_to_the_previous_row():
    stages = yaml.safe_load((REPO / "config" / "scores" / "devil_stages.yaml").read_text())
    table = yaml.safe_load((REPO / "config" / "tables" / "devil_stages.yaml").read_text())["devil_stages"]
    recipes = yaml.safe_load((REPO / "config" / "recipes" / "devil.yaml").read_text())
    rows = [r["recipe"] for r in table["rows"]]
    assert rows[:3] == ["image_based_clip_l14_30", "no_filter", "devil_dedup"]
    assert rows[3:] == ["devil_text", "devil_image", "devil_flip", "devil_itm", "devil_cids", "devil_qdup12",
                        "devil_qdup13", "devil_semdedup", "devil_digits"]

    align = yaml.safe_load((REPO / "config" / "scores" / "devil_align.yaml").read_text())

    def expand(ref):  # a reference with everything it reads: earlier stage scores and alignment bases
        score = ref.split(":")[0]
        if score in stages:
            return set().union(*(expand(r) for r in stages[score]["inputs"]))
        base = (align.get(score) or {}).get("base")
        return {ref} | (expand(base) if base else set())

    def refs(name):
        return expand(f"{name}:keep")

    added = {  # what each stage adds to the previous one, in the paper's order
        "devil_text": "devil_text_rules:keep", "devil_image": "devil_image_rules:keep", "devil_flip": "clip_hflip_keep:keep",
        "devil_itm": "flip_itm:keep", "devil_cids": "cids:count", "devil_qdup12": "quality_dup_12:count",
        "devil_semdedup": "semdedup:keep", "devil_digits": "digits:count",
    }
    prev = "devil_dedup"
    for stage in STAGES[1:]:
        base = refs(prev)
        if stage == "devil_itm":  # flip_itm is flipped CLIP and ITM combined: it replaces the flipped cut
            base = base - {"clip_hflip_keep:keep"}
        assert refs(stage) == base | {added[stage]}, stage
        assert recipes[stage]["score"] == stage
        prev = stage
    assert refs("devil_qdup13") == (refs("devil_qdup12") - {"quality_dup_12:count"}) | {"quality_dup_13:count"}
    # flip_itm's flipped cut is clip_hflip_keep's, at the tiny scale and at every real scale
    cross = yaml.safe_load((REPO / "config" / "scores" / "devil_cross.yaml").read_text())
    assert cross["flip_itm"]["inputs"][0] == cross["clip_hflip_keep"]["input"]
    assert cross["flip_itm"]["params"]["fractions"][0] == cross["clip_hflip_keep"]["params"]["fraction"]
    for scale in ("small", "medium", "large", "xlarge"):
        s = yaml.safe_load((REPO / "config" / "scales" / f"{scale}.yaml").read_text())["scores"]
        assert s["flip_itm"]["params"]["thresholds"][0] == s["clip_hflip_keep"]["params"]["threshold"] == 0.19


def test_a_missing_agreed_name_is_named(tmp_path):
    """A stage naming an entry that no config file defines stops the workflow at start-up, naming it."""
    import shutil

    shutil.copytree(REPO / "config", tmp_path / "config")
    dedup = tmp_path / "config" / "scores" / "dedup.yaml"
    entries = yaml.safe_load(dedup.read_text())
    del entries["near_dup"]
    dedup.write_text(yaml.safe_dump(entries))
    config = {}
    for p in (REPO / "config" / "config.yaml", REPO / "config" / "scales" / "tiny.yaml"):
        config_check._deep_update(config, yaml.safe_load(p.read_text()))
    with pytest.raises(ValueError, match=r"near_dup"):
        config_check.prepare(config, tmp_path)


@pytest.mark.parametrize("scale", ["small", "medium", "large", "xlarge"])
def test_real_scales_pass_the_start_up_checks(scale, tmp_path):
    """As tests/unit/test_bad_inputs.py checks every shipped scale, with the agreed names stubbed:
    the real scales' flipped cut 0.19, itm_blip (BLIP from a folder) and the digit columns."""
    config = {}
    for p in (REPO / "config" / "config.yaml", REPO / "config" / "scales" / "tiny.yaml", REPO / "config" / "scales" / f"{scale}.yaml"):
        config_check._deep_update(config, yaml.safe_load(p.read_text()))
    config["pool"]["metadata_dir"] = "/data/datacomp/metadata"
    config["evaluation"]["data_root"] = str(tmp_path)
    for section in config_check.NAMED_SECTIONS:
        config_check.merge_named_files(config, REPO, section)
    for name, column in AGREED.items():
        config["scores"].setdefault(name, {"method": f"_devil_stub_{column}"})
    config_check.prepare(config, REPO)
    assert config["scores"]["flip_itm"]["inputs"] == ["clip_score_hflip", "itm_blip"]
    assert config["tables"]["devil_stages"]["columns"][5:7] == ["vtab/svhn", "mnist"]
