"""The image-variant registry (clipcurate.embed.variants): declarations, params resolved from config,
artifacts, and everything that derives from the registry."""

import numpy as np
import pytest
from PIL import Image

from clipcurate.embed import variants
from clipcurate.scores import inputs
from clipcurate.mix.plan import check_scores
from clipcurate.scores.plan import PlanError, plan_score, score_files


def _vt_shift(image, params, artifacts):
    """Rolls the pixels right by ``dx`` (a test transform with a parameter and an artifact)."""
    return Image.fromarray(np.roll(np.asarray(image), params["dx"], axis=1))


def _vt_off(image, params, artifacts):
    raise NotImplementedError


@pytest.fixture(autouse=True)
def test_variants():
    """Two variants registered for this module's tests only (the registry is process-wide)."""
    variants.names()  # the shipped ones first, so that they are not registered again later
    variants.register("_vt_shift", defaults={"dx": 1, "weights": "w/{dx}.bin"}, artifacts={"weights": "{weights}"})(_vt_shift)
    variants.register("_vt_off", unavailable="needs a thing not built yet")(_vt_off)
    yield
    for name in ("_vt_shift", "_vt_off"):
        variants.REGISTRY.pop(name)


CONFIG = {"pool": {"source": "world"}, "models": {"m": {"arch": "a"}}, "scores": {}, "mixes": {}, "flyt": {"runs": {}},
          "recipes": {}, "reference_sets": {}}


def test_the_shipped_variants_and_what_derives_from_them():
    """Every list of variants is the registry's: the declared ones, the available ones, the embed
    rule's wildcard constraint (plain keeps the short path, so it is not in it)."""
    assert {"plain", "hflip", "textmask"} <= set(variants.names())
    assert inputs.VARIANTS == variants.names() and inputs.AVAILABLE_VARIANTS == variants.available()
    assert "textmask" in inputs.AVAILABLE_VARIANTS
    assert "_vt_shift" in inputs.AVAILABLE_VARIANTS and "_vt_off" not in inputs.AVAILABLE_VARIANTS
    assert set(variants.wildcard_regex().split("|")) == set(variants.available()) - {"plain"}
    assert variants.get("hflip").module == "clipcurate.embed.variants.hflip"
    assert variants.code_modules("textmask") == ("clipcurate.embed.variants.textmask",)
    tm = variants.get("textmask")
    assert tm.available and tm.artifacts == {} and tm.check is not None


def test_hflip_and_plain_transforms_against_numpy():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    np.testing.assert_array_equal(np.asarray(variants.transform("hflip")(im)), arr[:, ::-1])
    np.testing.assert_array_equal(np.asarray(variants.transform("plain")(im)), arr)
    np.testing.assert_array_equal(np.asarray(variants.transform("_vt_shift", {"dx": 2})(im)), np.roll(arr, 2, axis=1))


def test_params_and_artifacts_resolve_from_config():
    plan = variants.plan_variant(CONFIG, "_vt_shift")
    assert plan == {"name": "_vt_shift", "params": {"dx": 1, "weights": "w/{dx}.bin"}, "artifacts": {"weights": "w/{dx}.bin"}}
    cfg = {**CONFIG, "embed": {"variants": {"_vt_shift": {"params": {"dx": 3, "weights": "models/shift.bin"}}}}}
    assert variants.plan_variant(cfg, "_vt_shift") == {
        "name": "_vt_shift", "params": {"dx": 3, "weights": "models/shift.bin"}, "artifacts": {"weights": "models/shift.bin"}}
    assert variants.plan_variant(cfg, "hflip") == {"name": "hflip", "params": {}, "artifacts": {}}


@pytest.mark.parametrize("name, section, match", [
    ("sepia", {}, r"unknown image variant 'sepia'"),
    ("_vt_off", {}, r"image variant '_vt_off' is not available yet \(needs a thing not built yet\)"),
    ("_vt_shift", {"_vt_shift": {"params": {"dy": 1}}}, r"embed\.variants\._vt_shift\.params\.dy: unknown parameter of variant '_vt_shift'; known: \['dx', 'weights'\]"),
])
def test_plan_errors_name_the_key(name, section, match):
    with pytest.raises(variants.VariantConfigError, match=match):
        variants.plan_variant({**CONFIG, "embed": {"variants": section}}, name)


def test_a_score_on_a_variant_depends_on_its_images_and_the_plain_text():
    cfg = {**CONFIG, "scores": {"s": {"method": "clip_score", "model": "m", "variant": "_vt_shift"}}}
    check_scores(cfg)
    files = score_files(plan_score(cfg, "s"), chunk="00000")
    assert files["emb"] == "results/embeddings/m/_vt_shift/00000.parquet"
    assert files["emb__text"] == "results/embeddings/m/00000.parquet"
    bad = {**cfg, "embed": {"variants": {"_vt_shift": {"params": {"dy": 1}}}}}
    with pytest.raises(PlanError, match=r"embed\.variants\._vt_shift\.params\.dy"):
        check_scores(bad)


def test_register_refuses_bad_declarations():
    with pytest.raises(ValueError, match="identifier"):
        variants.register("a/b")
    with pytest.raises(ValueError, match=r"names \['path'\], which are not among its parameters"):
        variants.register("_vt_bad", artifacts={"detector": "{path}"})
    with pytest.raises(ValueError, match="embed job's own inputs"):
        variants.register("_vt_bad", defaults={"p": "x"}, artifacts={"model": "{p}"})
    with pytest.raises(ValueError, match="registered twice"):
        variants.register("hflip")(lambda image, params, artifacts: image)
