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
    """config.yaml + scales/{scale}.yaml; recipes and tables come from their own folders in the Snakefile."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config = deep_update(config, yaml.safe_load((REPO / f"config/scales/{scale}.yaml").read_text()))
    config.setdefault("recipes", {})
    config.setdefault("tables", {})
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
