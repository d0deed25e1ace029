"""The world's ground truth for the Devil pipeline, decontamination and T-MARS, checked against the
served files: face boxes, aspect ratios, planted eval copies, and scene text a CLIP can read (and not
read flipped) at the reference model's resolution."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from clipcurate.world import concepts as C
from clipcurate.world import faces as F
from clipcurate.world import generate_world, render as R, resolve_cfg
from clipcurate.world.geometry import aspect_ratio
from clipcurate.world.pool_kinds import plan_pool
from clipcurate.world.streams import stream

REPO = Path(__file__).resolve().parents[2]
BASE_URL = "http://127.0.0.1:18642"
# a pool large enough for every kind to appear a few times (3 % faces = 24, 1 % eval copies = 8)
CFG = {
    "pool_size": 800,
    "sizes": {"pretrain": 40, "hq": 20, "downstream": 20, "retrieval_train": 20, "eval_per_task": 24},
    "shard_size": 50,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("truth") / "w"
    generate_world(out, CFG, BASE_URL, seed=11)
    return out


def _tables(world):
    meta = pq.read_table(world / "pool" / "metadata.parquet").to_pylist()
    truth = pq.read_table(world / "truth.parquet").to_pylist()
    return meta, truth


def _rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")).astype(np.int16)


def _reference_side() -> int:
    """The side the tiny reference CLIP sees (its open_clip config), which is also the download size."""
    return json.loads((REPO / "src/clipcurate/embed/model_configs/tiny-clip.json").read_text())["vision_cfg"]["image_size"]


# --------------------------------------------------------------------------------------------
# faces


def test_face_kind_has_its_box_and_no_other_sample_has_one(world):
    meta, truth = _tables(world)
    faces = 0
    for m, t in zip(meta, truth):
        boxes = m["face_bboxes"]
        if t["kind"] != "face":
            assert boxes == [], (t["kind"], boxes)
            continue
        faces += 1
        assert len(boxes) == 1 and len(boxes[0]) == 4
        x0, y0, x1, y1 = boxes[0]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        # the box as drawn: the bounding box of the skin-toned pixels of the served image
        arr = _rgb((world / "pool" / "images" / f"{m['uid']}.jpg").read_bytes())
        h, w = arr.shape[:2]
        masks = [np.abs(arr - np.array(tone)).sum(axis=2) < 40 for tone in F.SKIN_TONES.values()]
        ys, xs = np.nonzero(max(masks, key=lambda m: m.sum()))  # the tone it was drawn in
        found = [xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h]
        assert np.allclose(found, boxes[0], atol=3 / min(w, h)), (found, boxes[0])
        # dominated by the face: the box covers at least 30 % of the square the download keeps
        assert (x1 - x0) * (y1 - y0) * w * h / min(w, h) ** 2 > 0.3
    assert faces == json.loads((world / "world.json").read_text())["pool"]["faces"] == round(0.03 * CFG["pool_size"])


def test_face_bboxes_column_is_datacomps_type(world):
    """A list of [x0, y0, x1, y1] lists of floats, which the metadata check accepts."""
    from clipcurate.pool import metadata_check

    schema = pq.read_schema(world / "pool" / "metadata.parquet")
    t = schema.field("face_bboxes").type
    assert pa.types.is_list(t) and pa.types.is_list(t.value_type) and pa.types.is_float64(t.value_type.value_type)
    cols = ["uid", "url", "text", "sha256", "face_bboxes"]
    assert metadata_check.check_file(world / "pool" / "metadata.parquet", cols, bbox_col="face_bboxes") == CFG["pool_size"]


# --------------------------------------------------------------------------------------------
# aspect ratios


def test_aspect_ratios_as_drawn(world):
    meta, truth = _tables(world)
    served = [(m, t) for m, t in zip(meta, truth) if t["failure"] is None]
    ratios = np.array([aspect_ratio(m["original_width"], m["original_height"]) for m, _ in served])
    assert np.allclose(ratios, [t["aspect"] for _, t in served])
    extreme = ratios > 3
    # the extreme ones are exactly the bad-geometry panoramas and squashed images
    assert all(t["kind"] == "bad_geometry" and t["geometry"] == "extreme" for (_, t), e in zip(served, extreme) if e)
    assert extreme.sum() == sum(t["geometry"] == "extreme" for _, t in served) > 0
    # normal samples: about half on 4:3, 3:2, 16:9 canvases (either way), the rest square
    normal = [m for m, t in served if t["kind"] not in ("bad_geometry", "eval_copy")]
    photo = sum(m["original_width"] != m["original_height"] for m in normal) / len(normal)
    assert 0.4 < photo < 0.6
    geo = json.loads((world / "world.json").read_text())["pool"]["geometry"]
    assert geo["extreme"] == int(extreme.sum()) and sum(geo.values()) == len(served)


def test_photo_canvas_centre_crop_is_the_scene():
    """img2dataset's center_crop of a non-square served image gives back the square scene."""
    cfg = resolve_cfg({"pool_size": 200})
    rows = [r for r in plan_pool(cfg, seed=5) if r["job"] is not None and r["job"][0] == "canvas"
            and r["kind"] != "bad_geometry"][:10]
    assert rows
    from clipcurate.world.jobs import render_job

    for r in rows:
        arr = render_job(r["job"], 64)
        h, w = arr.shape[:2]
        assert (w, h) == (r["width"], r["height"]) and min(w, h) == 64
        top, left = (h - 64) // 2, (w - 64) // 2
        crop = arr[top : top + 64, left : left + 64]
        inner = r["job"][1]
        expected = render_job(inner, 64)
        assert np.array_equal(crop, expected)


# --------------------------------------------------------------------------------------------
# planted eval copies


def _eval_images(world) -> dict[str, bytes]:
    out = {}
    for p in sorted((world / "eval").glob("*/test/*.tar")):
        task = p.parts[-3]
        with tarfile.open(p) as tf:
            for m in tf.getmembers():
                if m.name.endswith(".jpg"):
                    out[f"{task}/{m.name[:-4]}"] = tf.extractfile(m).read()
    return out


def test_planted_eval_copies_present_and_counted(world):
    meta, truth = _tables(world)
    manifest = json.loads((world / "world.json").read_text())
    evals = _eval_images(world)
    copies = [(m, t) for m, t in zip(meta, truth) if t["kind"] == "eval_copy"]
    n = round(0.01 * CFG["pool_size"])
    assert len(copies) == n == manifest["pool"]["eval_copies"]["count"] == manifest["pool"]["kinds"]["eval_copy"]
    assert len({t["eval_of"] for _, t in copies}) == n  # distinct test images
    assert all(t["eval_of"] is None for t in truth if t["kind"] != "eval_copy")
    exact = 0
    for m, t in copies:
        src = evals[t["eval_of"]]
        data = (world / "pool" / "images" / f"{m['uid']}.jpg").read_bytes()
        if hashlib.sha256(data).hexdigest() == hashlib.sha256(src).hexdigest():
            exact += 1
        else:  # lightly perturbed: a one-pixel shift and noise; close, but not the same pixels
            diff = np.abs(_rgb(data) - _rgb(src)).mean()
            assert 0 < diff < 12, (t["eval_of"], diff)
    assert exact == manifest["pool"]["eval_copies"]["exact"]
    assert sum(manifest["pool"]["eval_copies"]["tasks"].values()) == n
    # the copies' images differ from every other pool image (only the planted ones are contaminated)
    planted = {hashlib.sha256(evals[t["eval_of"]]).hexdigest() for _, t in copies}
    others = {m["sha256"] for m, t in zip(meta, truth) if t["kind"] != "eval_copy"}
    assert not planted & others


def test_summary_line_counts_the_truth(world):
    from clipcurate.world import summary_line

    line = summary_line(json.loads((world / "world.json").read_text()))
    assert f"eval copies planted: {round(0.01 * CFG['pool_size'])}" in line
    assert f"face {round(0.03 * CFG['pool_size'])}" in line


# --------------------------------------------------------------------------------------------
# scene text: readable at the reference resolution, not readable flipped

WORDS = tuple(C.SHAPES) + tuple(C.COLOUR_NAMES) + tuple(C.DIGIT_WORDS)


def _word_image(rng, word: str, side: int) -> np.ndarray:
    """A pool-like rendering of ``word`` (random position, colour, background) downsampled to ``side``."""
    scene = C.sample_text_scene(rng, [word])
    arr = R.render_scene(scene, 64)
    small = Image.fromarray(arr).resize((side, side), Image.BILINEAR)
    return np.asarray(small.convert("L")).astype(np.float32)


def _ink_patch(img: np.ndarray) -> np.ndarray:
    """The ink (dark pixels) cropped to its box and resized to 8 x 24: a position-free word image."""
    ink = np.clip(img.max() - img, 0, None)
    ys, xs = np.nonzero(ink > 0.35 * ink.max())
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    patch = np.asarray(Image.fromarray(crop).resize((24, 8), Image.BILINEAR))
    return (patch - patch.mean()) / (patch.std() + 1e-6)


def test_rendered_words_are_readable_at_the_reference_resolution():
    """A nearest-template reader tells the world's words apart from 32 px renders (the side the
    reference CLIP sees), so the words are there to be learned."""
    side = _reference_side()
    assert side == 32
    templates = {w: _ink_patch(_word_image(stream(0, f"tpl/{w}"), w, side)) for w in WORDS}
    rng = stream(1, "read")
    hits = n = 0
    for w in WORDS:
        for _ in range(6):
            p = _ink_patch(_word_image(rng, w, side))
            best = min(templates, key=lambda t: float(((templates[t] - p) ** 2).sum()))
            hits += best == w
            n += 1
    assert hits / n > 0.9, hits / n


def test_rendered_words_are_not_mirror_symmetric():
    """Flipped, a word reads as something else: its mirror image is further from it than another
    rendering of the same word is, and the template reader reads most flipped words as another word
    (or none). The words are lower case (upper-case A H I M O T U V W X Y are mirror-symmetric)."""
    side = _reference_side()
    assert all(w == w.lower() for w in WORDS)
    templates = {w: _ink_patch(_word_image(stream(0, f"tpl/{w}"), w, side)) for w in WORDS}
    same_read = 0
    for w in WORDS:
        img = _word_image(stream(2, f"m/{w}"), w, side)
        p, m = _ink_patch(img), _ink_patch(img[:, ::-1])
        q = _ink_patch(_word_image(stream(3, f"m/{w}"), w, side))
        assert float(((p - m) ** 2).sum()) > 1.2 * float(((p - q) ** 2).sum()), w
        same_read += min(templates, key=lambda t: float(((templates[t] - m) ** 2).sum())) == w
    assert same_read / len(WORDS) <= 0.25, same_read


def test_reference_training_has_no_flip_augmentation():
    """open_clip's training transform at the reference model's side draws no flip, and the train
    command passes no augmentation config that would add one."""
    from open_clip.transform import image_transform

    from clipcurate.train.run import open_clip_train_args

    t = image_transform(_reference_side(), is_train=True)
    assert not [s for s in t.transforms if "Flip" in type(s).__name__], t
    args = open_clip_train_args("x.tar", 100, "tiny-clip", None, {"batch_size": 8, "lr": 1e-3, "warmup": 1},
                                "logs", "n", 0, "cpu")
    assert "--aug-cfg" not in args
