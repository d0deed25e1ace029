"""Every weight source a model spec may name loads through clipcurate.embed.models.load_model, offline,
from a locally saved tiny checkpoint: an open_clip tag, hf-hub:org/repo (in the spec's `pretrained`
or as the arch), local-dir:, and a checkpoint file. Plus export_checkpoint on a real
open_clip_train checkpoint with the safe (weights_only) loader."""

import json
import subprocess
import sys

import huggingface_hub.constants as hf_constants
import open_clip
import pytest
import torch

from clipcurate.embed import models

ARCH = "tiny-clip"
IMAGES = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference():
    models.register_tiny_configs()
    torch.manual_seed(7)
    return open_clip.create_model(ARCH).eval()


def same_model(loaded, reference):
    for k, v in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    with torch.no_grad():
        assert torch.allclose(loaded.encode_image(IMAGES), reference.encode_image(IMAGES))


def open_clip_config():
    return {"model_cfg": models.tiny_config(ARCH), "preprocess_cfg": {}}


def hf_cache(cache, repo_id, files):
    """Write files into a Hugging Face cache the way huggingface_hub lays out a downloaded repo."""
    commit = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name, write in files.items():
        write(snapshot / name)


@pytest.fixture
def offline_hub(tmp_path, monkeypatch, reference):
    """An offline Hub whose cache holds the reference model as test-org/tiny-clip."""
    cache = tmp_path / "hf"
    hf_cache(cache, "test-org/tiny-clip", {
        "open_clip_config.json": lambda p: p.write_text(json.dumps(open_clip_config())),
        models.CHECKPOINT_NAME: lambda p: torch.save(reference.state_dict(), p),
    })
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.mark.parametrize("spec", [
    {"arch": ARCH, "pretrained": "hf-hub:test-org/tiny-clip"},   # the form the README documents
    {"arch": "hf-hub:test-org/tiny-clip", "pretrained": None},  # open_clip's own form
])
def test_hf_hub(spec, offline_hub, reference):
    model, preprocess, tokenizer = models.load_model(spec)
    same_model(model, reference)
    assert tokenizer(["a photo"]).shape == (1, models.tiny_config(ARCH)["text_cfg"]["context_length"])


def test_hf_hub_repo_missing_from_the_offline_cache_fails(offline_hub):
    with pytest.raises(RuntimeError, match="test-org/other"):
        models.load_model({"arch": ARCH, "pretrained": "hf-hub:test-org/other"})


def test_open_clip_tag(offline_hub, reference, monkeypatch):
    """A tag resolves through open_clip's pretrained registry to its Hub file (here a test tag of
    the tiny arch, as `openai` resolves to timm/vit_base_patch32_clip_224.openai for ViT-B-32)."""
    registry = dict(open_clip.pretrained._PRETRAINED)
    registry[ARCH] = {"testtag": open_clip.pretrained._pcfg(hf_hub="test-org/tiny-clip/")}
    monkeypatch.setattr(open_clip.pretrained, "_PRETRAINED", registry)
    assert models.open_clip_args({"arch": ARCH, "pretrained": "testtag"}) == (ARCH, "testtag")
    model, _, _ = models.load_model({"arch": ARCH, "pretrained": "testtag"})
    same_model(model, reference)


def test_openai_is_a_tag_of_vit_b_32():
    assert models.open_clip_args({"arch": "ViT-B-32", "pretrained": "openai"}) == ("ViT-B-32", "openai")


@pytest.mark.parametrize("where", ["pretrained", "arch"])
def test_local_dir(tmp_path, reference, where):
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps(open_clip_config()))
    torch.save(reference.state_dict(), folder / models.CHECKPOINT_NAME)
    spec = {"arch": ARCH, "pretrained": f"local-dir:{folder}"} if where == "pretrained" else {"arch": f"local-dir:{folder}"}
    model, _, _ = models.load_model(spec)
    same_model(model, reference)


def test_checkpoint_file(tmp_path, reference):
    torch.save(reference.state_dict(), tmp_path / "weights.bin")
    model, _, _ = models.load_model({"arch": ARCH, "pretrained": str(tmp_path / "weights.bin")})
    same_model(model, reference)


@pytest.mark.parametrize(("spec", "error", "match"), [
    ({"arch": ARCH, "pretrained": "laion2b"}, ValueError, "neither a pretrained tag of tiny-clip"),
    ({"arch": "ViT-B-32", "pretrained": "not_a_tag"}, ValueError, "known: .*openai"),
    ({"arch": ARCH, "pretrained": "models/missing.bin"}, FileNotFoundError, "models/missing.bin"),
    ({"arch": ARCH, "pretrained": "local-dir:/nonexistent/folder"}, FileNotFoundError, "open_clip_config.json"),
    ({"arch": "hf-hub:a/b", "pretrained": "openai"}, ValueError, "pretrained must be null"),
    ({"arch": ARCH, "pretrained": "hf-hub:"}, ValueError, "repository id"),
])
def test_bad_specs_are_named_before_loading(spec, error, match):
    with pytest.raises(error, match=match) as info:
        models.open_clip_args(spec)
    assert "model spec" in str(info.value)


@pytest.mark.slow
def test_export_reads_an_open_clip_train_checkpoint_with_the_safe_loader(tmp_path):
    """A checkpoint written by open_clip_train itself (state dict, optimizer and AMP scaler state)
    exports with torch.load(weights_only=True) and loads back as the trained model."""
    model_arg = models.local_dir_for(ARCH, tmp_path / "model")
    proc = subprocess.run(
        [sys.executable, "-m", "open_clip_train.main", "--dataset-type", "synthetic", "--train-num-samples", "8",
         "--batch-size", "4", "--epochs", "1", "--model", model_arg, "--device", "cpu", "--precision", "amp",
         "--logs", str(tmp_path / "logs"), "--name", "run", "--workers", "0", "--report-to", ""],
        capture_output=True, text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = tmp_path / "logs" / "run" / "checkpoints" / "epoch_1.pt"
    content = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert {"state_dict", "optimizer", "scaler", "epoch", "name"} <= set(content)
    weights = models.export_checkpoint(ckpt, ARCH, tmp_path / "exported")
    model, _, _ = models.load_model({"arch": ARCH, "pretrained": str(weights)})
    trained = {k.removeprefix("module."): v for k, v in content["state_dict"].items()}
    for k, v in model.state_dict().items():
        assert torch.equal(v, trained[k]), k


class Payload:
    """An arbitrary pickled object: the unsafe loader would construct it."""


def test_export_refuses_a_pickled_object(tmp_path):
    """Anything beyond tensors and plain containers is refused, not executed."""
    ckpt = tmp_path / "odd.pt"
    torch.save({"state_dict": {}, "extra": Payload()}, ckpt)
    with pytest.raises(Exception, match="[Ww]eights only"):
        models.export_checkpoint(ckpt, ARCH, tmp_path / "out")
