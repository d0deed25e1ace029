"""What rules/dedup.smk makes (clipcurate.pool.dedup_inputs) and the pool-level phash_dup through the
runner, against direct computations: imagehash of each shard image, open_clip embeddings of each
evaluation image."""

from __future__ import annotations

import io as _io
import tarfile

import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from clipcurate.pool import dedup as D
from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.embed import models
from clipcurate.pool.dedup_inputs import embed_eval_images, eval_test_dirs, gather_phash, phash_chunk
from clipcurate.embed.encode import read_embeddings
from tests.unit.test_flyt_run import TINY, write_downstream, write_pool_shards

torch.set_num_threads(1)


@pytest.fixture
def pool(tmp_path):
    shards, uids = write_pool_shards(tmp_path / "shards", 12, per_shard=6)
    index = tmp_path / "index.parquet"
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array([i // 6 for i in range(12)], pa.int32()),
                                 "key": pa.array([f"{i:09d}" for i in range(12)]),
                                 "chunk": pa.array([i // 6 for i in range(12)], pa.int32())}),
                       index, fingerprint=uidcodec.uid_fingerprint(pa.array(uids)))
    jpgs = []
    for s in shards:
        with tarfile.open(s) as tf:
            jpgs += [tf.extractfile(m).read() for m in tf if m.name.endswith(".jpg")]
    return {"dir": tmp_path / "shards", "index": index, "uids": uids, "jpgs": jpgs}


def test_phash_chunks_gathered_equal_imagehash_of_each_image(tmp_path, pool):
    parts = []
    for c in (0, 1):
        stats = phash_chunk(pool["index"], pool["dir"], c, tmp_path / f"p{c}.parquet")
        assert stats["images"] == 6 and stats["undecodable"] == 0
        parts.append(tmp_path / f"p{c}.parquet")
    assert gather_phash(parts, pool["index"], tmp_path / "phash.parquet") == 12
    t = pq.read_table(tmp_path / "phash.parquet")
    assert t.column("uid").to_pylist() == pool["uids"]
    direct = [int(str(imagehash.phash(Image.open(_io.BytesIO(b)).convert("RGB"))), 16) for b in pool["jpgs"]]
    assert t.column("phash").to_pylist() == direct
    # chunks gathered out of order are refused
    with pytest.raises(fileio.ContractError):
        gather_phash(parts[::-1], pool["index"], tmp_path / "bad.parquet")


def test_phash_dup_through_the_runner(tmp_path, monkeypatch):
    from clipcurate.scores.plan import plan_score
    from clipcurate.scores.runner import run_score

    monkeypatch.chdir(tmp_path)
    uids = [f"{i + 1:032x}" for i in range(6)]
    fileio.write_table(pa.table({"uid": pa.array(uids), "shard": pa.array([0] * 6, pa.int32()),
                                 "key": pa.array([str(i) for i in range(6)]), "chunk": pa.array([0] * 6, pa.int32())}),
                       "results/pool/index.parquet", fingerprint=uidcodec.uid_fingerprint(pa.array(uids)))
    # 0 and 2 differ in 3 bits, 4 in 4 bits from 0; 5 did not decode
    h = np.array([0, 0xFFFF << 32, 0b111, 0xFFFF << 48, 0b1111 << 20, 0], np.uint64)
    fileio.write_table(pa.table({"uid": pa.array(uids), "phash": pa.array(h), "valid": pa.array([True] * 5 + [False])}),
                       "results/dedup/phash.parquet")
    cfg = {"pool": {"source": "world"}, "models": {}, "mixes": {},
           "scores": {"p": {"method": "phash_dup", "params": {"max_distance": 3}}}}
    plan = plan_score(cfg, "p")
    assert plan.inputs["phash"]["path"] == "results/dedup/phash.parquet"
    from clipcurate.scores.plan import score_files

    run_score(plan, score_files(plan), "results/scores/p.parquet")
    got = scorefiles.read_scores("results/scores/p.parquet", "results/pool/index.parquet")
    np.testing.assert_array_equal(got["keep"], [True, True, False, True, True, True])
    np.testing.assert_allclose(got["score"], [0.5, 1, 0.5, 1, 1, 1])
    cfg["scores"]["p"]["params"]["max_distance"] = 4  # 4 joins 0's group now
    run_score(plan_score(cfg, "p"), score_files(plan_score(cfg, "p")), "results/scores/p.parquet")
    got = scorefiles.read_scores("results/scores/p.parquet", "results/pool/index.parquet")
    np.testing.assert_array_equal(got["keep"], [True, True, False, True, False, True])


def test_eval_images_of_every_webdataset_task_equal_open_clip(tmp_path):
    root = tmp_path / "eval"
    write_downstream(root / "shapes" / "test", n=5, seed=1)
    write_downstream(root / "digits" / "test", n=3, seed=2)
    (root / "hf_task").mkdir()  # another layout: skipped
    suite = {"name": "t", "tasks": [{"key": "shapes", "dataset": "wds/shapes"}, {"key": "digits"},
                                    {"key": "hf", "dataset": "hf_task"}]}
    assert list(eval_test_dirs(suite, str(root))) == ["shapes", "digits"]
    torch.manual_seed(0)
    stats = embed_eval_images(suite, str(root), TINY, tmp_path / "e.parquet", batch_size=2)
    assert stats["images"] == 8 and stats["tasks"] == ["shapes", "digits"]
    emb = read_embeddings(tmp_path / "e.parquet", columns=("image",))
    assert emb["key"].to_pylist()[:2] == ["shapes/00000000/000000000", "shapes/00000000/000000001"]
    jpgs = []
    for task in ("shapes", "digits"):
        with tarfile.open(root / task / "test" / "00000000.tar") as tf:
            members = {m.name: tf.extractfile(m).read() for m in tf}
        jpgs += [members[k] for k in sorted(members) if k.endswith(".jpg")]
    torch.manual_seed(0)
    model, preprocess, _ = models.load_model(TINY)
    with torch.no_grad():
        direct = model.encode_image(torch.stack([preprocess(Image.open(_io.BytesIO(b)).convert("RGB")) for b in jpgs]),
                                    normalize=True).numpy()
    np.testing.assert_allclose(emb["image"], direct, atol=1e-5)
    # a pool image equal to an evaluation image is found by decontam's search, the others not
    hit, _ = D.matches_any(np.r_[direct[3:4], -direct[0:1]], emb["image"], 0.999)
    assert hit.tolist() == [True, False]
    with pytest.raises(fileio.ContractError, match="no evaluation task"):
        embed_eval_images({"name": "x", "tasks": [{"key": "hf", "dataset": "hf_task"}]}, str(root), TINY, tmp_path / "x.parquet")
