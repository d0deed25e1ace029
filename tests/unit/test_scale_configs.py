"""The DataComp scale configs: valid against the schema, and DataComp's numbers (its scale table)."""

from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[2]

# DataComp's scale_configs.py: pool size, model, global batch, lr, warmup, samples seen, beta2
DATACOMP_SCALES = {
    "small": (12_800_000, "ViT-B-32", 4096, 5e-4, 500, 12_800_000, None),
    "medium": (128_000_000, "ViT-B-32", 4096, 5e-4, 500, 128_000_000, None),
    "large": (1_280_000_000, "ViT-B-16", 8192, 5e-4, 500, 1_280_000_000, None),
    "xlarge": (12_800_000_000, "ViT-L-14", 90112, 1e-3, 10000, 12_800_000_000, 0.95),
}
# DataComp's img2dataset call (download_upstream.py)
DATACOMP_DOWNLOAD = {"processes": 16, "threads": 128, "image_size": 512, "resize_mode": "keep_ratio_largest",
                     "resize_only_if_bigger": True, "bbox_col": "face_bboxes", "retries": 2}


def deep_update(base: dict, over: dict) -> dict:
    """Snakemake's merge of config files: nested mappings merge, other values replace."""
    for key, value in over.items():
        base[key] = deep_update(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return base


def merged(scale: str) -> dict:
    """config.yaml + scales/{scale}.yaml, then config/{scores,mixes,recipes,tables}/*.yaml merged under
    them as the Snakefile merges them (a scale file's entry deep-merges over a file's entry)."""
    from clipcurate.config.check import NAMED_SECTIONS, merge_named_files

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config = deep_update(config, yaml.safe_load((REPO / f"config/scales/{scale}.yaml").read_text()))
    for section in NAMED_SECTIONS:
        merge_named_files(config, REPO, section)
    return config


@pytest.mark.parametrize("scale", ["tiny", *DATACOMP_SCALES])
def test_scale_config_passes_the_schema(scale):
    config = merged(scale)
    if config["pool"]["source"] == "datacomp":
        config["pool"]["metadata_dir"] = "/data/datacomp/metadata"  # the user's download, given at run time
    validate(config, str(REPO / "config/schema.yaml"))


@pytest.mark.parametrize("scale", DATACOMP_SCALES)
def test_scale_config_holds_datacomps_hyperparameters(scale):
    s = merged(scale)["scale"]
    got = (s["pool_size"], s["model"], s["batch_size"], s["lr"], s["warmup"], s["samples_seen"], s.get("beta2"))
    assert got == DATACOMP_SCALES[scale]


@pytest.mark.parametrize("scale", DATACOMP_SCALES)
def test_scale_config_downloads_like_datacomp(scale):
    download = merged(scale)["download"]
    assert {k: download.get(k) for k in DATACOMP_DOWNLOAD} == DATACOMP_DOWNLOAD


def test_medium_trains_dfns_on_the_users_hq_set(tmp_path):
    """DFN at real scale: DFN-Base from OpenAI's weights on the user's HQ shard folder, DFN-FT from
    it, and a published DFN's weights by path, planned on a medium config (a dry run)."""
    import subprocess
    import sys

    for d in ("meta", "eval", "resources/cc12m", "resources/imagenet_train", "resources/coco_flickr_train",
              "resources/dfn_published"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "resources/dfn_published/open_clip_pytorch_model.bin").write_bytes(b"weights")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"pool": {"metadata_dir": "meta"}, "evaluation": {"data_root": "eval"}}))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "results/models/dfn_ft/open_clip_pytorch_model.bin", "-n",
                           "--cores", "1", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                           "--configfile", str(REPO / "config/scales/medium.yaml"), str(site)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.count("rule train_reference_model:") == 2
    assert "wildcards: model=dfn\n" in out and "wildcards: model=dfn_ft\n" in out
    assert "resources/cc12m" in out  # DFN-Base reads the user's HQ folder
