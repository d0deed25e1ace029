"""Model specs: a locally saved checkpoint loads through the same path as published weights."""

import json

import open_clip
import torch

from clipcurate.embed import models


def test_tiny_config_registered_and_local_checkpoint_roundtrip(tmp_path):
    assert "tiny-clip" in models.register_tiny_configs()
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip")
    ckpt = tmp_path / "train_ckpt.pt"
    # open_clip_train checkpoints hold a DDP-prefixed state_dict
    torch.save({"epoch": 1, "state_dict": {"module." + k: v for k, v in model.state_dict().items()}}, ckpt)
    weights = models.export_checkpoint(ckpt, "tiny-clip", tmp_path / "exported")
    loaded, preprocess, tokenizer = models.load_model({"arch": "tiny-clip", "pretrained": str(weights)})
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval().encode_image(images), loaded.encode_image(images))
    # the exported folder is also a valid open_clip local-dir model (the CLI path)
    cfg = json.loads((tmp_path / "exported" / "open_clip_config.json").read_text())
    assert cfg["model_cfg"]["embed_dim"] == 64
    via_dir = open_clip.create_model(f"local-dir:{tmp_path / 'exported'}")
    assert torch.equal(via_dir.state_dict()["logit_scale"], model.state_dict()["logit_scale"])


def test_local_dir_with_init_checkpoint(tmp_path):
    torch.manual_seed(1)
    model = open_clip.create_model("tiny-clip")
    torch.save(model.state_dict(), tmp_path / "init.bin")
    arg = models.local_dir_for("tiny-clip", tmp_path / "dir", init_checkpoint=str(tmp_path / "init.bin"))
    assert arg.startswith("local-dir:")
    again = open_clip.create_model(arg)
    assert torch.equal(again.state_dict()["text_projection"], model.state_dict()["text_projection"])


def test_missing_checkpoint_is_named(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="nope.bin"):
        models.load_model({"arch": "tiny-clip", "pretrained": str(tmp_path / "nope.bin")})


def test_a_changed_run_does_not_resume_the_old_checkpoints(tmp_path):
    from clipcurate.train.run import reset_stale_run

    work = tmp_path / "open_clip_train"
    reset_stale_run(work, ["--lr", "1"], {"arch": "tiny-clip"})
    ckpt = work / "logs" / "run" / "checkpoints" / "epoch_latest.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_text("x")
    reset_stale_run(work, ["--lr", "1"], {"arch": "tiny-clip"})  # the same run restarted: resume
    assert ckpt.exists()
    reset_stale_run(work, ["--lr", "2"], {"arch": "tiny-clip"})  # another run: start afresh
    assert not ckpt.exists()


def test_new_shards_at_the_same_path_do_not_resume_the_old_run(tmp_path):
    """A recipe's shards are rewritten at the same path when its subset changes: the arguments are
    then identical, and only the shards' stamps tell the rerun from a restart."""
    import os

    from clipcurate.train.run import input_stamp, reset_stale_run

    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "00000000.tar").write_bytes(b"a" * 10)
    data = f"{shards}/{{00000000..00000000}}.tar"
    spec = {"arch": "tiny-clip"}
    work = tmp_path / "open_clip_train"
    reset_stale_run(work, ["--lr", "1"], spec, input_stamp(data, spec))
    ckpt = work / "logs" / "run" / "checkpoints" / "epoch_latest.pt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_text("x")
    reset_stale_run(work, ["--lr", "1"], spec, input_stamp(data, spec))  # the same files: a restart
    assert ckpt.exists()
    (shards / "00000000.tar").write_bytes(b"b" * 12)  # the resharder wrote a new subset there
    os.utime(shards / "00000000.tar", ns=(1, 1))
    reset_stale_run(work, ["--lr", "1"], spec, input_stamp(data, spec))
    assert not ckpt.exists()
