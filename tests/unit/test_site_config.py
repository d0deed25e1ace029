"""The site file a user copies (config/site.example.yaml) completes every DataComp scale config, and
each scale's download jobs cover the download at img2dataset's published one-machine rate."""

import pytest
import yaml
from snakemake.utils import validate

from tests.unit.test_scale_configs import DATACOMP_SCALES, REPO, deep_update, merged

# img2dataset's README: "100M urls in 20h on one machine"
SAMPLES_PER_SECOND = 100e6 / (20 * 3600)


@pytest.mark.parametrize("scale", DATACOMP_SCALES)
def test_scale_plus_site_file_passes_the_schema(scale):
    config = deep_update(merged(scale), yaml.safe_load((REPO / "config/site.example.yaml").read_text()))
    validate(config, str(REPO / "config/schema.yaml"))
    assert config["pool"]["source"] == "datacomp" and config["evaluation"]["data_root"]
    assert config["models"]["openai"]["precomputed"] == "b32"


@pytest.mark.parametrize("scale", DATACOMP_SCALES)
def test_download_jobs_cover_the_download(scale):
    config = merged(scale)
    hours = config["scale"]["pool_size"] / SAMPLES_PER_SECOND / 3600
    d = config["download"]
    assert d["verify_sha256"] is True
    # at least 1.2x the estimate in all attempts, and more than one attempt (a preempted job resumes)
    assert d["runtime"] * d["attempts"] / 60 >= 1.2 * hours
    assert d["attempts"] >= 2 and d["runtime"] <= 48 * 60
