"""The tiny world: determinism, pool kinds, failing URLs, clip_benchmark layout, eval isolation, verify."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import struct
import tarfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from clipcurate.world import (
    COLOUR_NAMES,
    COLOURS,
    DEFAULT_CFG,
    FAILURES,
    KINDS,
    SHAPES,
    WorldError,
    generate_world,
    kind_counts,
    resolve_cfg,
    verify_world,
)
from clipcurate.world import generate as G
from clipcurate.world import render as R

BASE_URL = "http://127.0.0.1:18642"
SMALL = {
    "pool_size": 300,
    "sizes": {"pretrain": 100, "hq": 60, "downstream": 60, "retrieval_train": 40, "eval_per_task": 30},
    "shard_size": 40,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    generate_world(out, SMALL, BASE_URL, seed=7)
    return out


def _manifest(out: Path) -> dict:
    return json.loads((out / "world.json").read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tar_images(path: Path):
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            if m.name.endswith((".jpg", ".png")):
                yield m.name, tf.extractfile(m).read()


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("RGB"))
    return hashlib.sha256(str(arr.shape).encode() + arr.tobytes()).digest()


# --------------------------------------------------------------------------------------------
# configuration


def test_cfg_defaults_and_validation():
    assert resolve_cfg({}) == DEFAULT_CFG
    assert abs(sum(DEFAULT_CFG["kinds"].values()) - 1) < 1e-9
    with pytest.raises(WorldError, match="pool_sise"):
        resolve_cfg({"pool_sise": 10})
    with pytest.raises(WorldError, match="sizes.hqq"):
        resolve_cfg({"sizes": {"hqq": 10}})
    with pytest.raises(WorldError, match="sum to 1"):
        resolve_cfg({"kinds": {"clean": 0.5}})
    with pytest.raises(WorldError, match="eval_per_task"):
        resolve_cfg({"sizes": {"eval_per_task": 0}})


def test_kind_counts_largest_remainder():
    counts = kind_counts(301, DEFAULT_CFG["kinds"])
    assert sum(counts.values()) == 301
    for k, frac in DEFAULT_CFG["kinds"].items():
        assert abs(counts[k] - 301 * frac) < 1


# --------------------------------------------------------------------------------------------
# determinism


def test_same_seed_is_byte_identical_and_other_seed_differs(world, tmp_path):
    again = tmp_path / "again"
    generate_world(again, SMALL, BASE_URL, seed=7)
    m1, m2 = _manifest(world), _manifest(again)
    assert m1 == m2  # includes size + sha256 of every file
    assert (world / "world.json").read_bytes() == (again / "world.json").read_bytes()
    assert _sha(world / "pool" / "metadata.parquet") == _sha(again / "pool" / "metadata.parquet")
    images = sorted((world / "pool" / "images").iterdir())[:5]
    for p in images:
        assert p.read_bytes() == (again / "pool" / "images" / p.name).read_bytes()

    other = tmp_path / "other"
    generate_world(other, SMALL, BASE_URL, seed=8)
    assert _sha(world / "pool" / "metadata.parquet") != _sha(other / "pool" / "metadata.parquet")
    uids1 = set(pq.read_table(world / "pool" / "metadata.parquet").column("uid").to_pylist())
    uids2 = set(pq.read_table(other / "pool" / "metadata.parquet").column("uid").to_pylist())
    assert not uids1 & uids2
    assert _sha(world / "eval" / "shapes" / "test" / "0.tar") != _sha(other / "eval" / "shapes" / "test" / "0.tar")


def test_workers_do_not_change_content(world, tmp_path, monkeypatch):
    from clipcurate.world import jobs as J

    monkeypatch.setattr(J, "PARALLEL_MIN_JOBS", 1)
    par = tmp_path / "par"
    generate_world(par, SMALL, BASE_URL, seed=7, threads=2)
    assert _manifest(par)["files"] == _manifest(world)["files"]


def test_components_have_independent_streams(world, tmp_path):
    cfg = json.loads(json.dumps(SMALL))
    cfg["sizes"]["pretrain"] = 70
    cfg["pool_size"] = 310
    alt = tmp_path / "alt"
    generate_world(alt, cfg, BASE_URL, seed=7)
    f1, f2 = _manifest(world)["files"], _manifest(alt)["files"]
    same = ["reference/hq/00000000.tar", "reference/downstream/00000000.tar", "eval/shapes/test/0.tar",
            "eval/retrieval_scenes/test/0.tar"]
    for rel in same:
        assert f1[rel] == f2[rel], rel
    # a stream is consumed sample by sample: a smaller set is a prefix of the larger one
    assert f1["reference/pretrain/00000000.tar"] == f2["reference/pretrain/00000000.tar"]
    assert f1["reference/pretrain/00000001.tar"] != f2["reference/pretrain/00000001.tar"]
    assert "reference/pretrain/00000002.tar" in f1 and "reference/pretrain/00000002.tar" not in f2
    assert f1["pool/metadata.parquet"] != f2["pool/metadata.parquet"]


# --------------------------------------------------------------------------------------------
# the pool


def test_pool_metadata_and_kind_fractions(world):
    meta = pq.read_table(world / "pool" / "metadata.parquet")
    truth = pq.read_table(world / "truth.parquet")
    assert meta.column_names[:6] == ["uid", "url", "text", "original_width", "original_height", "sha256"]
    assert str(meta.schema.field("original_width").type) == "int64"
    uids = meta.column("uid").to_pylist()
    assert uids == truth.column("uid").to_pylist()
    assert len(uids) == SMALL["pool_size"] == len(set(uids))
    assert all(re.fullmatch(r"[0-9a-f]{32}", u) for u in uids)
    assert meta.column("url").to_pylist() == [f"{BASE_URL}/pool/images/{u}.jpg" for u in uids]

    kinds = truth.column("kind").to_pylist()
    counts = Counter(kinds)
    assert set(counts) <= set(KINDS)
    for k, frac in DEFAULT_CFG["kinds"].items():
        assert abs(counts[k] - frac * len(uids)) < 1, (k, counts[k])
    assert truth.column("clean").to_pylist() == [k == "clean" for k in kinds]
    # kinds are interleaved, not blocked
    first = {k: kinds.index(k) for k in counts if counts[k] >= 10}
    assert max(first.values()) < len(kinds) // 2
    fails = Counter(f for f in truth.column("failure").to_pylist() if f is not None)
    assert sum(fails.values()) == counts["failing_url"]
    assert max(fails.values()) - min(fails[f] for f in FAILURES) <= 1

    rows = truth.to_pylist()
    pos = {u: i for i, u in enumerate(uids)}
    texts = meta.column("text").to_pylist()
    for i, r in enumerate(rows):
        if r["kind"] == "near_duplicate":
            j = pos[r["dup_of"]]
            assert j < i and rows[j]["kind"] == "clean" and r["cls"] == rows[j]["cls"]
        else:
            assert r["dup_of"] is None
        if r["kind"] == "failing_url":
            assert r["cls"] is None
        if r["kind"] == "non_english":
            assert r["lang"] in ("fr", "de", "es")
            words = set(re.findall(r"\w+", texts[i].lower()))
            english = set(SHAPES) | {s + "s" for s in SHAPES} | set(COLOUR_NAMES)
            shared = {"triangle", "triangles", "ring", "orange"}  # French triangle, German Ring, orange
            assert not words & (english - shared), texts[i]
        if r["cls"] is not None and r["kind"] in ("clean", "misaligned"):
            mentions = re.search(rf"\b{r['cls']}(e?s)?\b", texts[i]) is not None
            assert mentions == (r["kind"] == "clean"), (r, texts[i])
        if r["kind"] == "uninformative":
            assert not re.search(r"\b(" + "|".join(SHAPES) + r")", texts[i])


def test_served_bytes_match_metadata(world):
    meta = pq.read_table(world / "pool" / "metadata.parquet").to_pylist()
    truth = pq.read_table(world / "truth.parquet").to_pylist()
    for m, t in zip(meta, truth):
        path = world / "pool" / "images" / f"{m['uid']}.jpg"
        if t["failure"] == "404":
            assert m["sha256"] is None
            assert not path.exists()
            continue
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == m["sha256"]
        if t["kind"] != "failing_url":
            with Image.open(io.BytesIO(data)) as im:
                assert im.format == "JPEG"
                assert im.size == (m["original_width"], m["original_height"])
            w, h = im.size
            assert t["aspect"] == max(w, h) / min(w, h)
            if t["kind"] == "bad_geometry":
                assert max(w, h) / min(w, h) >= 4 or max(w, h) <= 12
                assert t["geometry"] in ("extreme", "small")
            elif t["kind"] == "eval_copy":
                assert (w, h) == (64, 64)
            else:  # square, or a photo canvas whose short side is the native size
                assert (w, h) in {(64, 64), (85, 64), (64, 85), (96, 64), (64, 96), (114, 64), (64, 114)}
                assert t["geometry"] == ("square" if w == h else "photo")


def test_failing_urls_fail_to_decode(world):
    import cv2

    meta = pq.read_table(world / "pool" / "metadata.parquet").to_pylist()
    truth = pq.read_table(world / "truth.parquet").to_pylist()
    by_failure: dict[str, list] = {f: [] for f in FAILURES}
    for m, t in zip(meta, truth):
        if t["failure"]:
            by_failure[t["failure"]].append(m)
    assert all(by_failure.values())
    for m in by_failure["404"]:
        assert not (world / "pool" / "images" / f"{m['uid']}.jpg").exists()

    def pil_decodes(data: bytes) -> bool:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
            return True
        except Image.DecompressionBombError:
            raise
        except Exception:
            return False

    def cv2_decodes(data: bytes) -> bool:
        try:
            return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
        except cv2.error:
            return False

    for kind in ("truncated", "not_image"):
        for m in by_failure[kind]:
            data = (world / "pool" / "images" / f"{m['uid']}.jpg").read_bytes()
            assert not pil_decodes(data), (kind, m["uid"])
            assert not cv2_decodes(data), (kind, m["uid"])
    for m in by_failure["truncated"]:
        assert (world / "pool" / "images" / f"{m['uid']}.jpg").read_bytes()[:2] == b"\xff\xd8"
    for m in by_failure["not_image"]:
        assert b"<html" in (world / "pool" / "images" / f"{m['uid']}.jpg").read_bytes()

    payloads = {(world / "pool" / "images" / f"{m['uid']}.jpg").read_bytes() for m in by_failure["too_large"]}
    assert len(payloads) == 1  # the same bytes for every such URL
    data = payloads.pop()
    assert 100_000 < len(data) < 300_000
    for m in by_failure["too_large"]:
        assert (m["original_width"], m["original_height"]) == (40000, 40000)
    with pytest.raises(Image.DecompressionBombError):
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    assert not cv2_decodes(data)
    # ... yet it is a valid PNG: IHDR says 40000x40000 1-bit grey, IDAT inflates to the exact size
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (w, h, depth, colour) == (40000, 40000, 1, 0)
    n = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    d = zlib.decompressobj()
    total = 0
    idat = data[41 : 41 + n]
    for i in range(0, len(idat), 1 << 16):
        total += len(d.decompress(idat[i : i + (1 << 16)]))
    total += len(d.flush())
    assert d.eof and total == 40000 * (1 + 40000 // 8)


# --------------------------------------------------------------------------------------------
# reference sets


def test_reference_sets(world):
    man = _manifest(world)
    for name, n in SMALL["sizes"].items():
        if name == "eval_per_task":
            continue
        d = world / "reference" / name
        meta = json.loads((d / "meta.json").read_text())
        shards = sorted(d.glob("*.tar"))
        assert meta["num_samples"] == n == man["reference"][name]["num_samples"]
        assert meta["shards"] == len(shards) == -(-n // SMALL["shard_size"])
        assert [p.name for p in shards] == [f"{k:08d}.tar" for k in range(len(shards))]
        samples: dict[str, dict] = {}
        for p in shards:
            with tarfile.open(p) as tf:
                for m in tf.getmembers():
                    key, ext = m.name.split(".", 1)
                    assert re.fullmatch(r"\d{9}", key)
                    samples.setdefault(key, {})[ext] = tf.extractfile(m).read()
        assert len(samples) == n
        exts = {tuple(sorted(s)) for s in samples.values()}
        assert exts == ({("cls", "jpg", "txt")} if name == "downstream" else {("jpg", "txt")})
        if name == "downstream":
            assert (d / "classnames.txt").read_text().split("\n")[:10] == list(SHAPES)
            assert all("{c}" in t for t in (d / "templates.txt").read_text().splitlines())
            for s in samples.values():
                label = int(s["cls"])
                assert re.search(rf"\b{SHAPES[label]}\b", s["txt"].decode())


def test_scene_text_captions_name_the_rendered_words():
    cfg = resolve_cfg({})
    plan = G.plan_reference("pretrain", 2000, cfg, seed=3)
    text = [p for p in plan if p["job"][1].text]
    share = cfg["pretrain_text_fraction"]
    assert share - 0.03 < len(text) / len(plan) < share + 0.03  # scene-text images
    bare = 0
    for p in text:
        scene, caption = p["job"][1], p["txt"]
        assert all(re.search(rf"\b{w}\b", caption) for w in scene.text), (scene.text, caption)
        bare += caption == " ".join(scene.text)
    assert 0.15 < bare / len(text) < 0.45  # pure OCR samples captioned by the bare words
    pool = [r for r in G.plan_pool(resolve_cfg({"pool_size": 2000}), seed=3) if r["kind"] == "scene_text"]
    assert len(pool) == 200
    from clipcurate.world.jobs import job_scene

    coloured = 0
    for r in pool:
        scene = job_scene(r["job"])
        assert scene.text == (r["cls"],) and re.search(rf"\b{r['cls']}\b", r["text"])  # one word, as large as fits
        if scene.text_colour_name is not None:  # painted in the colour the caption names
            coloured += 1
            assert re.search(rf"\b{scene.text_colour_name} {r['cls']}\b", r["text"])
            assert scene.text_colour == tuple(round(0.8 * c) for c in COLOURS[scene.text_colour_name])
        weak = not scene.objects or scene.style == "faint" or max(o[2] for o in scene.objects) < 0.1
        assert weak, scene
    assert 0.5 < coloured / len(pool) < 0.7


# --------------------------------------------------------------------------------------------
# evaluation tasks


def test_eval_tasks_follow_clip_benchmark_layout(world):
    from clip_benchmark.datasets.builder import build_dataset

    man = _manifest(world)
    tasks = {t["name"]: t for t in man["eval_tasks"]}
    groups = Counter(t["group"] for t in tasks.values())
    assert groups["imagenet"] == 1 and groups["dist_shift"] >= 2 and groups["vtab"] >= 5
    assert groups["retrieval"] >= 2 and groups["other"] >= 2
    for t in tasks.values():
        d = world / t["path"]
        assert (d / "dataset_type.txt").read_text().strip() == t["type"]
        nshards = int((d / "test" / "nshards.txt").read_text())
        assert sorted(p.name for p in (d / "test").glob("*.tar")) == sorted(f"{k}.tar" for k in range(nshards))
        if t["type"] == "classification":
            classes = (d / "classnames.txt").read_text().splitlines()
            assert len(classes) == t["num_classes"] == len(set(classes))
            assert all("{c}" in x for x in (d / "zeroshot_classification_templates.txt").read_text().splitlines())

    ds = build_dataset(dataset_name="wds/shapes", root=str(world / "eval" / "shapes"),
                       transform=lambda im: im.size, split="test", task="zeroshot_classification")
    assert ds.classes == list(SHAPES)
    assert len(ds.templates) >= 5 and all("{c}" in x for x in ds.templates)
    items = list(ds)
    assert len(items) == SMALL["sizes"]["eval_per_task"] == tasks["shapes"]["n"]
    labels = [y for _, y in items]
    assert all(isinstance(y, int) and 0 <= y < 10 for y in labels)
    assert len(set(labels)) == 10  # balanced labels
    assert {s for s, _ in items} == {(64, 64)}

    ds = build_dataset(dataset_name="wds/colours", root=str(world / "eval" / "colours"),
                       transform=lambda im: im.size, split="test", task="zeroshot_classification")
    assert ds.classes == list(COLOUR_NAMES) and len(list(ds)) == SMALL["sizes"]["eval_per_task"]

    ds = build_dataset(dataset_name="wds/retrieval_multi", root=str(world / "eval" / "retrieval_multi"),
                       transform=lambda im: im.size, split="test", task="zeroshot_retrieval")
    items = list(ds)
    assert len(items) == SMALL["sizes"]["eval_per_task"]
    for _, caps in items:
        assert len(caps) == 2 and all(caps) and caps[0] != caps[1]
        assert re.search(r"\b(two|three|four)\b", " ".join(caps).lower())


def test_no_eval_image_appears_in_pool_or_reference(world):
    """Except the planted eval copies (tested in test_world_truth.py)."""
    truth = pq.read_table(world / "truth.parquet").to_pylist()
    planted = {t["uid"] for t in truth if t["kind"] == "eval_copy"}
    assert planted
    train = set()
    for p in (world / "pool" / "images").iterdir():
        if p.stem in planted:
            continue
        data = p.read_bytes()
        if data[:2] == b"\xff\xd8":
            try:
                train.add(_pixels(data))
            except OSError:  # truncated
                pass
    n_pool = len(train)
    for p in sorted((world / "reference").glob("*/*.tar")):
        for _, data in _tar_images(p):
            train.add(_pixels(data))
    assert n_pool > 200 and len(train) > n_pool + 200
    n_eval = 0
    for p in sorted((world / "eval").glob("*/test/*.tar")):
        for name, data in _tar_images(p):
            assert _pixels(data) not in train, f"{p}:{name} also appears in the training data"
            n_eval += 1
    assert n_eval == 14 * SMALL["sizes"]["eval_per_task"]


def test_eval_images_colliding_with_training_are_redrawn(tmp_path):
    cfg = resolve_cfg(SMALL)
    spec = next(s for s in G._task_specs() if s["name"] == "shapes")

    class HitFirst(set):
        """Claims the first two rendered eval images are training images."""

        def __init__(self):
            super().__init__()
            self.calls = 0

        def __contains__(self, item):
            self.calls += 1
            return self.calls <= 2

    files_a, files_b = {}, {}
    entry, redraws = G.write_eval_task(tmp_path / "a", spec, cfg, 7, 1, files_a, set())
    assert redraws == 0
    entry, redraws = G.write_eval_task(tmp_path / "b", spec, cfg, 7, 1, files_b, HitFirst())
    assert redraws == 2

    def load(root):
        with tarfile.open(root / "eval" / "shapes" / "test" / "0.tar") as tf:
            return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}

    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    assert a.keys() == b.keys()
    assert a["s0000000.jpg"] != b["s0000000.jpg"]  # redrawn
    assert a["s0000000.cls"] == b["s0000000.cls"]  # with the same label
    assert a["s0000001.jpg"] == b["s0000001.jpg"]  # others untouched


# --------------------------------------------------------------------------------------------
# rendering


def test_rendering_is_pure_and_learnable_size():
    from clipcurate.world import concepts as C

    rng = np.random.default_rng(0)
    scene = C.sample_shape_scene(rng, shape="star", colour="red", count=1, size="large")
    a, b = R.render_scene(scene), R.render_scene(scene)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    mask = R.subject_mask(scene, 64)
    assert 0.1 < mask.mean() < 0.6  # a big object
    red = np.asarray(C.COLOURS["red"])
    if scene.texture == "plain":
        assert (np.abs(a[mask].astype(int) - red).sum(axis=1) == 0).mean() > 0.9
    # every shape class draws a distinct silhouette
    sils = {}
    for s in SHAPES:
        sc = C.sample_shape_scene(np.random.default_rng(1), shape=s, count=1, size="large")
        sils[s] = R.subject_mask(sc, 64).tobytes()
    assert len(set(sils.values())) == len(SHAPES)
    # rendered words produce ink
    t = C.sample_text_scene(rng, ["pentagon"])
    img = R.render_scene(t)
    assert (img.astype(int).sum(axis=2) < 250).sum() > 30


# --------------------------------------------------------------------------------------------
# verify_world


def test_verify_world_names_missing_and_corrupt_files(world, tmp_path):
    man = verify_world(world)
    assert man["seed"] == 7 and man["pool"]["num_samples"] == SMALL["pool_size"]
    tasks = man["eval_tasks"]
    assert {"name", "type", "group", "num_classes", "n"} <= set(tasks[0])

    w = tmp_path / "copy"
    shutil.copytree(world, w)
    verify_world(w)

    img = sorted((w / "pool" / "images").iterdir())[3]
    img.unlink()
    with pytest.raises(WorldError, match=rf"{re.escape(str(img))}: missing"):
        verify_world(w)
    shutil.copyfile(world / "pool" / "images" / img.name, img)
    verify_world(w)

    shard = w / "reference" / "hq" / "00000001.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(WorldError, match=rf"{re.escape(str(shard))}: corrupt: sha256"):
        verify_world(w)
    verify_world(w, check_hashes=False)  # a size-only check cannot see it
    shard.write_bytes(bytes(data[:-10]))
    with pytest.raises(WorldError, match=rf"{re.escape(str(shard))}: corrupt: {len(data) - 10} bytes"):
        verify_world(w, check_hashes=False)
    shutil.copyfile(world / "reference" / "hq" / "00000001.tar", shard)

    gone = w / man["absent"][0]
    gone.write_bytes(b"surprise")
    with pytest.raises(WorldError, match=rf"{re.escape(str(gone))}: exists but must be absent"):
        verify_world(w)
    gone.unlink()

    (w / "world.json").unlink()
    with pytest.raises(WorldError, match="world.json: missing"):
        verify_world(w)
