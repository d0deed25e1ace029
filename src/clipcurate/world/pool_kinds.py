"""Planning the pool: one row per sample (in uid order) with its kind, caption, render job and truth.

Kinds (fractions in ``world.kinds``; ``truth.parquet`` records each sample's kind):

* ``clean``: a scene and an English caption of it;
* ``misaligned``: a scene captioned as another scene;
* ``scene_text``: the words of a scene rendered, the object weak or absent, captioned as the scene;
* ``near_duplicate``: a shifted, noised, re-encoded copy of an earlier clean image;
* ``non_english``: a French, German or Spanish caption;
* ``uninformative``: a file-name-like caption ("IMG_0412.jpg");
* ``bad_geometry``: squashed, shrunk or panorama images (:mod:`.geometry`);
* ``failing_url``: 404, truncated bytes, not an image, too large to decode;
* ``face``: a face-like region covering most of the image, boxed in ``face_bboxes`` (:mod:`.faces`);
* ``eval_copy``: a copy of an evaluation task's test image (:mod:`.eval_copies`), its job filled in
  once the tasks are drawn.

Canvases, faces and eval copies draw from their own streams (``pool/canvas``, ``pool/faces``,
``pool/eval_copies``), so the other kinds' scenes and captions depend only on the ``pool`` stream.
"""

from __future__ import annotations

import numpy as np

from . import concepts as C
from . import faces as F
from . import geometry as GEO
from . import render as R
from .config import FAILURES, KINDS, kind_counts, split_evenly
from .eval_copies import plan_eval_copies
from .scenes import different_scene, generic_scene, shape_cls
from .streams import make_uid, stream
from .verify import WorldError

#: kinds whose served image may sit on a non-square photo canvas
CANVAS_KINDS = frozenset({"clean", "misaligned", "scene_text", "near_duplicate", "non_english",
                          "uninformative", "face"})


def plan_pool(cfg: dict, seed: int) -> list[dict]:
    """One dict per pool sample (in uid order): uid, kind, text, job, truth fields (cls, failure,
    lang, dup_of, eval_of), the served width/height and ``face_bboxes``."""
    rng = stream(seed, "pool")
    canvas_rng = stream(seed, "pool/canvas")
    face_rng = stream(seed, "pool/faces")
    n = int(cfg["pool_size"])
    size = int(cfg["native_size"])
    counts = kind_counts(n, cfg["kinds"])
    kinds = np.array([k for k in KINDS for _ in range(counts[k])], dtype=object)
    kinds = kinds[rng.permutation(n)]
    # a near duplicate copies an *earlier* clean image: make sure one comes first
    if counts["near_duplicate"] and not counts["clean"]:
        raise WorldError(f"world cfg: pool_size {n} leaves no clean sample for the near duplicates to copy")
    if counts["near_duplicate"]:
        first_clean = int(np.nonzero(kinds == "clean")[0][0])
        first_dup = int(np.nonzero(kinds == "near_duplicate")[0][0])
        if first_dup < first_clean:
            kinds[first_dup], kinds[first_clean] = kinds[first_clean], kinds[first_dup]
    fail_counts = split_evenly(counts["failing_url"], FAILURES)
    failures = np.array([f for f in FAILURES for _ in range(fail_counts[f])], dtype=object)
    failures = list(failures[rng.permutation(len(failures))])
    copies = iter(plan_eval_copies(cfg, seed, counts["eval_copy"]))

    plan: list[dict] = []
    clean_idx: list[int] = []
    for i, kind in enumerate(kinds.tolist()):
        uid = make_uid(seed, i)
        row = {"uid": uid, "kind": kind, "failure": None, "lang": None, "dup_of": None, "eval_of": None,
               "width": size, "height": size, "face_bboxes": []}
        if kind == "clean":
            scene = generic_scene(rng, cfg)
            row.update(text=C.caption_en(scene, rng), job=("scene", scene), cls=shape_cls(scene), scene=scene)
            clean_idx.append(i)
        elif kind == "misaligned":
            scene = generic_scene(rng, cfg)
            other = different_scene(rng, cfg, scene)
            row.update(text=C.caption_en(other, rng), job=("scene", scene), cls=shape_cls(scene))
        elif kind == "scene_text":
            scene = C.sample_shape_scene(rng)
            shown = C.sample_scene_text_scene(rng, scene, cfg["scene_text_colour_fraction"])
            row.update(text=C.caption_scene_text(shown, rng), job=("scene", shown), cls=scene.cls)
        elif kind == "near_duplicate":
            j = clean_idx[int(rng.integers(len(clean_idx)))]
            src = plan[j]
            scene = src["scene"]
            text = src["text"] if rng.random() < 0.5 else C.caption_en(scene, rng)
            shift = (int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
            if shift == (0, 0):
                shift = (1, 0)
            job = ("neardup", scene, shift[0], shift[1], float(rng.uniform(1.5, 5.0)),
                   int(rng.integers(0, 2**31 - 1)), int(rng.integers(55, 86)))
            row.update(text=text, job=job, cls=src["cls"], dup_of=src["uid"])
        elif kind == "non_english":
            scene = C.sample_shape_scene(rng)
            lang = C.LANGUAGES[int(rng.integers(len(C.LANGUAGES)))]
            row.update(text=C.caption_foreign(scene, rng, lang), job=("scene", scene), cls=scene.cls, lang=lang)
        elif kind == "uninformative":
            scene = generic_scene(rng, cfg)
            row.update(text=C.uninformative_caption(rng), job=("scene", scene), cls=shape_cls(scene))
        elif kind == "bad_geometry":
            scene = generic_scene(rng, cfg)
            op, w, h = GEO.BAD_GEOMETRIES[int(rng.integers(len(GEO.BAD_GEOMETRIES)))]
            job = ("resize", scene, w, h) if op == "resize" else ("canvas", ("scene", scene), w, h)
            row.update(text=C.caption_en(scene, rng), job=job, cls=shape_cls(scene), width=w, height=h)
        elif kind == "failing_url":
            scene = generic_scene(rng, cfg)
            failure = failures.pop()
            row.update(text=C.caption_en(scene, rng), cls=None, failure=failure)
            if failure == "truncated":
                row["job"] = ("truncated", scene)
            else:
                row["job"] = None
                if failure == "too_large":
                    row["width"] = row["height"] = R.TOO_LARGE_SIDE
        elif kind == "face":
            scene = F.sample_face_scene(face_rng)
            row.update(text=F.face_caption(face_rng), job=("scene", scene), cls=None,
                       face_bboxes=[F.face_box(scene)])
        elif kind == "eval_copy":
            copy = next(copies)
            # text, job and cls are filled in by eval_copies.resolve once the task is drawn
            row.update(text=None, job=None, cls=None, eval_of=copy["eval_of"], eval_copy=copy)
        else:  # pragma: no cover
            raise AssertionError(kind)
        if kind in CANVAS_KINDS:
            canvas = GEO.photo_canvas(canvas_rng, size, float(cfg["non_square_fraction"]))
            if canvas is not None:
                w, h = canvas
                row.update(job=("canvas", row["job"], w, h), width=w, height=h)
                row["face_bboxes"] = [GEO.box_on_canvas(b, size, w, h) for b in row["face_bboxes"]]
        plan.append(row)
    return plan
