"""Image variants and reference sets of the embed stage, against a direct open_clip computation."""

import io as _io
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from clipcurate.core import fileio, uidcodec
from clipcurate.embed import models
from clipcurate.embed.encode import embed_chunk, embed_reference, read_embeddings
from tests.unit.test_flyt_run import TINY, write_downstream, write_pool_shards

torch.set_num_threads(1)


def direct(jpgs, captions, flip):
    """Embeddings computed here: numpy flips the decoded pixels (no PIL transpose), same seed."""
    torch.manual_seed(0)
    model, preprocess, tokenizer = models.load_model(TINY)
    ims = []
    for b in jpgs:
        arr = np.asarray(Image.open(_io.BytesIO(b)).convert("RGB"))
        ims.append(preprocess(Image.fromarray(np.ascontiguousarray(arr[:, ::-1]) if flip else arr)))
    with torch.no_grad():
        return (model.encode_image(torch.stack(ims), normalize=True).numpy(),
                model.encode_text(tokenizer(captions), normalize=True).numpy())


@pytest.fixture
def pool(tmp_path):
    shards, uids = write_pool_shards(tmp_path / "shards", 12, per_shard=6)
    keys = [f"{i:09d}" for i in range(12)]
    index = tmp_path / "index.parquet"
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array([i // 6 for i in range(12)], pa.int32()),
                                 "key": pa.array(keys), "chunk": pa.array([0] * 12, pa.int32())}),
                       index, fingerprint=uidcodec.uid_fingerprint(pa.array(uids)))
    jpgs = []
    for s in shards:
        with tarfile.open(s) as tf:
            jpgs += [tf.extractfile(m).read() for m in tf if m.name.endswith(".jpg")]
    return {"dir": tmp_path / "shards", "index": index, "uids": uids, "jpgs": jpgs, "captions": [f"caption {i}" for i in range(12)]}


@pytest.mark.parametrize("variant", ["plain", "hflip", {"name": "hflip", "params": {}, "artifacts": {}}])
def test_chunk_variants_match_a_direct_computation(tmp_path, pool, variant):
    """Plain: image and text vectors; hflip (by name or in its planned form, the rule's param): the
    flipped images' vectors only, equal to embedding images flipped here with numpy."""
    name = variant if isinstance(variant, str) else variant["name"]
    torch.manual_seed(0)
    stats = embed_chunk(pool["index"], pool["dir"], 0, TINY, tmp_path / "e.parquet", batch_size=5, variant=variant)
    assert stats["samples"] == 12 and stats["variant"] == name
    img, txt = direct(pool["jpgs"], pool["captions"], flip=name == "hflip")
    if name == "plain":
        got = read_embeddings(tmp_path / "e.parquet")
        np.testing.assert_allclose(got["text"], txt, atol=1e-5)
    else:  # a variant's file holds no text: its scores take the plain file's text vectors
        assert pq.read_schema(tmp_path / "e.parquet").names == ["uid", "image"]
        got = read_embeddings(tmp_path / "e.parquet", columns=("image",))
    assert got["uid"].to_pylist() == pool["uids"]
    np.testing.assert_allclose(got["image"], img, atol=1e-5)
    other, _ = direct(pool["jpgs"], pool["captions"], flip=name != "hflip")
    assert np.abs(got["image"] - other).max() > 1e-3  # the variant changes the image embeddings


@pytest.mark.parametrize("variant, match", [
    ("sepia", r"unknown image variant 'sepia'; known variants: \['hflip', 'plain', 'textmask'\]"),
])
def test_unavailable_or_unknown_variant_is_refused(tmp_path, pool, variant, match):
    with pytest.raises((ValueError, KeyError), match=match):
        embed_chunk(pool["index"], pool["dir"], 0, TINY, tmp_path / "e.parquet", variant=variant)


def test_reference_set_with_labels(tmp_path):
    down = write_downstream(tmp_path / "down", n=7)
    torch.manual_seed(0)
    stats = embed_reference(down, TINY, tmp_path / "r.parquet", batch_size=3)
    assert stats["samples"] == 7 and stats["labelled"]
    t = pq.read_table(tmp_path / "r.parquet")
    assert t.column("key").to_pylist() == [f"00000000/{i:09d}" for i in range(7)]
    assert t.column("label").to_pylist() == [i % 3 for i in range(7)]
    emb = read_embeddings(tmp_path / "r.parquet")
    with tarfile.open(down / "00000000.tar") as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf}
    jpgs = [members[f"{i:09d}.jpg"] for i in range(7)]
    caps = [members[f"{i:09d}.txt"].decode() for i in range(7)]
    img, txt = direct(jpgs, caps, flip=False)
    np.testing.assert_allclose(emb["image"], img, atol=1e-5)
    np.testing.assert_allclose(emb["text"], txt, atol=1e-5)
