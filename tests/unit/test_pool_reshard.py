"""Download over loopback HTTP with img2dataset, the index, the report, and resharding."""

import io as _io
import json
import tarfile
import urllib.request
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from clipcurate.core import fileio, scorefiles, uidcodec
from clipcurate.pool import download as pool
from clipcurate.pool.reshard import reshard
from tests.conftest import hex_uid


def _jpeg(i):
    buf = _io.BytesIO()
    Image.new("RGB", (40, 40), (i * 20 % 255, 100, 50)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    served = root / "served"
    served.mkdir()
    rows = []
    port = 18700 + (hash(str(root)) % 200)
    for i in range(12):
        name = f"{i}.jpg"
        if i < 9:
            (served / name).write_bytes(_jpeg(i))
        elif i == 9:
            (served / name).write_text("<html>not an image</html>")
        # i == 10, 11: no file -> 404
        rows.append({"uid": hex_uid(i), "url": f"http://127.0.0.1:{port}/{name}", "text": f"caption {i}"})
    meta = root / "metadata"
    meta.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), meta / "00000000.parquet")
    cfg = {"samples_per_shard": 5, "processes": 1, "threads": 4, "image_size": 32, "resize_mode": "center_crop",
           "encode_quality": 95, "retries": 0, "timeout": 5}
    report = pool.download_pool(meta, root / "shards", cfg, serve_root=served, serve_port=port)
    return root, report


def test_server_serves_and_stops(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with pool.serve_directory(tmp_path, 0) as base:
        assert urllib.request.urlopen(f"{base}/a.txt").read() == b"hello"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/a.txt", timeout=2)


def test_download_report_counts_each_failure(downloaded):
    root, report = downloaded
    assert report["total"] == 12
    assert report["success"] == 9
    assert report["failures_by_kind"].get("http_404") == 2
    assert sum(report["failures_by_kind"].values()) == 3
    assert not (root / "shards.partial").exists()
    assert sorted(p.name for p in (root / "shards").glob("*.tar")) == ["00000000.tar", "00000001.tar", "00000002.tar"]


def test_index_is_canonical_and_chunked(downloaded):
    root, _ = downloaded
    table = pool.build_index(root / "shards", chunk_shards=2)
    assert table.num_rows == 9
    assert sorted(table.column("uid").to_pylist()) == [hex_uid(i) for i in range(9)]
    shards = table.column("shard").to_pylist()
    assert shards == sorted(shards)
    assert table.column("chunk").to_pylist() == [s // 2 for s in shards]
    # every indexed sample is really in its shard, with the uid in its json
    for uid, shard, key in zip(table.column("uid").to_pylist(), shards, table.column("key").to_pylist()):
        with tarfile.open(pool.shard_path(root / "shards", shard)) as tf:
            meta = json.loads(tf.extractfile(f"{key}.json").read())
        assert meta["uid"] == uid


def test_reshard_honours_counts_and_shuffles(downloaded, tmp_path):
    root, _ = downloaded
    table = pool.build_index(root / "shards", chunk_shards=2)
    index = tmp_path / "index.parquet"
    pool.write_index(table, index)
    uids = table.column("uid")
    counts = np.array([3, 0, 1, 2, 0, 0, 1, 0, 4])
    scorefiles.write_subset(tmp_path / "sub.parquet", None, uids, counts)
    meta = reshard(tmp_path / "sub.parquet", index, root / "shards", tmp_path / "out", shard_size=4,
                   shuffle_buffer=8, seed=0)
    assert meta["output_count"] == 11 and meta["output_shard_count"] == 3
    seen = Counter()
    order = []
    for tar in sorted((tmp_path / "out").glob("*.tar")):
        with tarfile.open(tar) as tf:
            for m in tf.getmembers():
                if m.name.endswith(".jpg"):
                    uid = m.name.split("-")[0]
                    seen[uid] += 1
                    order.append(uid)
    expected = {u: c for u, c in zip(uids.to_pylist(), counts) if c}
    assert dict(seen) == expected
    assert order != sorted(order, key=lambda u: uids.to_pylist().index(u))  # shuffled, not in pool order
    ids = np.load(tmp_path / "out" / "sample_ids.npy")
    assert len(ids) == 11
    stats = json.loads((tmp_path / "out" / "00000000_stats.json").read_text())
    assert stats["successes"] == 4


def test_counts_from_a_score_method_reach_reshard_unchanged(downloaded, tmp_path):
    # A score method that outputs counts (import_subset of a DataComp .npy listing uids with repeats),
    # the 'counts' sampler, and reshard: the resharded stream holds every sample exactly count times.
    from clipcurate.sample import subset
    from clipcurate.scores.plan import plan_score, score_files
    from clipcurate.scores.runner import run_score

    root, _ = downloaded
    table = pool.build_index(root / "shards", chunk_shards=2)
    index = tmp_path / "index.parquet"
    pool.write_index(table, index)
    uids = table.column("uid").to_pylist()
    want = {uids[0]: 3, uids[2]: 1, uids[5]: 2, uids[8]: 4}
    listed = [u for u, c in want.items() for _ in range(c)]
    listed = [listed[i] for i in np.random.default_rng(1).permutation(len(listed))]  # published lists are not in pool order
    with open(tmp_path / "published.npy", "wb") as f:
        np.save(f, uidcodec.uids_to_pairs(listed))
    config = {"pool": {"source": "datacomp"}, "scores": {"pub": {"method": "import_subset", "file": str(tmp_path / "published.npy"), "params": {"repeats": "count"}}}}
    plan = plan_score(config, "pub")
    assert "count" in plan.outputs
    files = {**score_files(plan), "index": str(index), "pool": str(root / "shards")}
    run_score(plan.to_dict(), files, tmp_path / "pub.parquet", report_path=tmp_path / "pub.report.json")
    stats = subset.write_recipe_subset("dup", {"method": "counts"}, index, tmp_path / "pub.parquet",
                                       tmp_path / "dup.parquet", tmp_path / "dup.npy", n_target=100, seed=0)
    assert (stats["n_unique"], stats["n_total"]) == (4, 10)
    npy = uidcodec.pairs_to_uids(np.load(tmp_path / "dup.npy"))
    assert Counter(npy) == Counter(listed)
    meta = reshard(tmp_path / "dup.parquet", index, root / "shards", tmp_path / "out", shard_size=3,
                   shuffle_buffer=4, seed=0)
    assert meta["output_count"] == 10
    seen = Counter()
    for tar in sorted((tmp_path / "out").glob("*.tar")):
        with tarfile.open(tar) as tf:
            seen.update(m.name.split("-")[0] for m in tf.getmembers() if m.name.endswith(".jpg"))
    assert dict(seen) == want


def test_reshard_rejects_unknown_uid(downloaded, tmp_path):
    root, _ = downloaded
    table = pool.build_index(root / "shards", chunk_shards=2)
    index = tmp_path / "index.parquet"
    pool.write_index(table, index)
    scorefiles.write_subset(tmp_path / "sub.parquet", None, pa.array([hex_uid(500)]), np.array([1]))
    with pytest.raises(fileio.ContractError, match=r"sub.parquet: 1 uids are not in the pool index"):
        reshard(tmp_path / "sub.parquet", index, root / "shards", tmp_path / "out", 4, 8, 0)


def _member_order_of(tar_dir):
    out = []
    for tar in sorted(tar_dir.glob("*.tar")):
        with tarfile.open(tar) as tf:
            out += [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]
    return out


def test_reshard_does_not_depend_on_the_download_order_within_a_shard(downloaded, tmp_path):
    """img2dataset writes samples in completion order; the same pool in another order reshards identically."""
    root, _ = downloaded
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for tar in sorted((root / "shards").glob("*.tar")):
        with tarfile.open(tar) as tf:
            members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
        by_key = {}
        for m, data in members:
            by_key.setdefault(m.name.split(".")[0], []).append((m, data))
        with tarfile.open(shuffled / tar.name, "w") as out:
            for key in sorted(by_key, reverse=True):
                for m, data in by_key[key]:
                    out.addfile(m, _io.BytesIO(data))
    table = pool.build_index(root / "shards", chunk_shards=2)
    index = tmp_path / "index.parquet"
    pool.write_index(table, index)
    scorefiles.write_subset(tmp_path / "sub.parquet", None, table.column("uid"), np.array([2, 1, 1, 3, 0, 1, 1, 2, 1]))
    for shards, out in ((root / "shards", "a"), (shuffled, "b")):
        reshard(tmp_path / "sub.parquet", index, shards, tmp_path / out, shard_size=4, shuffle_buffer=8, seed=5)
    assert _member_order_of(tmp_path / "a") == _member_order_of(tmp_path / "b")
