"""The evaluation tasks: clip_benchmark's webdataset layout (``eval/<task>/test/{nshards.txt,0.tar}``,
``classnames.txt``, ``zeroshot_classification_templates.txt``), DataComp-like groups (ImageNet analogue,
distribution shifts, VTAB-like, retrieval, other). No test image equals a pool or reference image
except the pool's planted ``eval_copy`` samples (see :mod:`.eval_copies`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import concepts as C
from .jobs import map_jobs, run_job
from .shards import write_shards, write_text
from .streams import stream


def _captions2(rng: np.random.Generator, scene: C.Scene) -> list[str]:
    a = C.caption_en(scene, rng)
    b = a
    for _ in range(20):
        b = C.caption_en(scene, rng)
        if b != a:
            break
    return [a, b]


def _task_specs() -> list[dict]:
    """name, type, group, classes, templates, sample(rng, label) -> scene (or (scene, captions))."""
    S = C.sample_shape_scene
    single = dict(count=1)
    cls_specs = [
        ("shapes", "imagenet", list(C.SHAPES), "shapes",
         lambda rng, y: S(rng, shape=C.SHAPES[y], **single)),
        ("shapes_sketch", "dist_shift", list(C.SHAPES), "shapes",
         lambda rng, y: S(rng, shape=C.SHAPES[y], texture="plain", style="outline", **single)),
        ("shapes_noisy", "dist_shift", list(C.SHAPES), "shapes",
         lambda rng, y: S(rng, shape=C.SHAPES[y], noise=60.0, **single)),
        ("shapes_small", "dist_shift", list(C.SHAPES), "shapes",
         lambda rng, y: S(rng, shape=C.SHAPES[y], size="small", radius_scale=0.75, **single)),
        ("colours", "vtab", list(C.COLOUR_NAMES), "colours",
         lambda rng, y: S(rng, colour=C.COLOUR_NAMES[y], **single)),
        ("counts", "vtab", [C.COUNT_WORDS[c] for c in C.COUNTS], "counts",
         lambda rng, y: S(rng, count=C.COUNTS[y])),
        ("positions", "vtab", list(C.POSITIONS), "positions",
         lambda rng, y: S(rng, position=C.POSITIONS[y], size="small", **single)),
        ("sizes", "vtab", list(C.SIZES), "sizes",
         lambda rng, y: S(rng, size=C.SIZES[y], **single)),
        ("textures", "vtab", list(C.TEXTURES), "textures",
         lambda rng, y: S(rng, texture=C.TEXTURES[y], size="large", **single)),
        ("digits", "vtab", list(C.DIGITS), "digits",
         lambda rng, y: C.sample_digit_scene(rng, digit=C.DIGITS[y])),
        ("shape_colour", "other", C.shape_colour_classes(), "shape_colour",
         lambda rng, y: S(rng, colour=C.COLOUR_NAMES[y // len(C.SHAPES)], shape=C.SHAPES[y % len(C.SHAPES)],
                          **single)),
        ("rendered_words", "other", list(C.SHAPES), "rendered_words",
         lambda rng, y: C.sample_text_scene(rng, [C.SHAPES[y]])),
    ]
    specs = [
        {"name": n, "type": "classification", "group": g, "classes": cl, "templates": list(C.TASK_TEMPLATES[t]),
         "sample": fn, "metric": "acc1"}
        for n, g, cl, t, fn in cls_specs
    ]

    def retr_single(rng, _):
        scene = S(rng, count=1)
        return scene, _captions2(rng, scene)

    def retr_multi(rng, _):
        scene = S(rng, counts=(2, 3, 4), count_p=None)
        return scene, _captions2(rng, scene)

    retr = [
        {"name": "retrieval_scenes", "type": "retrieval", "group": "retrieval", "classes": None,
         "templates": None, "sample": retr_single, "metric": "mean_recall@1"},
        {"name": "retrieval_multi", "type": "retrieval", "group": "retrieval", "classes": None,
         "templates": None, "sample": retr_multi, "metric": "mean_recall@1"},
    ]
    # DataComp-like order: ImageNet, shifts, VTAB, retrieval, other
    order = {"imagenet": 0, "dist_shift": 1, "vtab": 2, "retrieval": 3, "other": 4}
    return sorted(specs + retr, key=lambda s: order[s["group"]])


EVAL_GROUPS = ("imagenet", "dist_shift", "vtab", "retrieval", "other")


def _eval_sample(spec: dict, rng: np.random.Generator, label: int | None):
    res = spec["sample"](rng, label)
    if spec["type"] == "retrieval":
        return res
    return res, None


def task_size(cfg: dict, name: str) -> int:
    """Test images of task ``name`` under the resolved world ``cfg``."""
    return int(cfg.get("eval_task_sizes", {}).get(name, cfg["sizes"]["eval_per_task"]))


def sample_key(index: int) -> str:
    """The webdataset key of a task's ``index``-th test image."""
    return f"s{index:07d}"


def write_eval_task(out: Path, spec: dict, cfg: dict, seed: int, threads: int, files: dict,
                    train_hashes: set, planned_out: dict | None = None) -> tuple[dict, int]:
    """Write one task; returns (its manifest entry, eval images redrawn because they equalled a
    training image). ``planned_out``, when given, receives ``{index: (scene, captions or None)}`` of
    the written images (the pool's eval copies are drawn from them)."""
    n = task_size(cfg, spec["name"])
    size = int(cfg["native_size"])
    rng = stream(seed, f"eval/{spec['name']}")
    if spec["type"] == "classification":
        k = len(spec["classes"])
        labels = rng.permutation(np.arange(n) % k).tolist()
    else:
        labels = [None] * n
    planned = [_eval_sample(spec, rng, y) for y in labels]
    results = list(map_jobs([("scene", sc) for sc, _ in planned], size, threads))
    # no evaluation image may equal a pool or reference image: redraw (from a separate stream) on a hit
    redraw_rng = stream(seed, f"eval-redraw/{spec['name']}")
    redraws = 0
    for i, (data, w, h, ph) in enumerate(results):
        while ph in train_hashes:
            redraws += 1
            planned[i] = _eval_sample(spec, redraw_rng, labels[i])
            data, w, h, ph = run_job(("scene", planned[i][0]), size)
            results[i] = (data, w, h, ph)
    if planned_out is not None:
        planned_out.update(enumerate(planned))
    rel = f"eval/{spec['name']}"

    def samples():
        for i, ((scene, caps), (data, _, _, _)) in enumerate(zip(planned, results)):
            s = {"key": sample_key(i), "jpg": data}
            if spec["type"] == "classification":
                s["cls"] = str(labels[i]).encode()
            else:
                s["txt"] = "\n".join(caps).encode()
            yield s

    n_shards = write_shards(out, f"{rel}/test", samples(), int(cfg["shard_size"]), lambda k: f"{k}.tar", files)
    write_text(out, f"{rel}/test/nshards.txt", f"{n_shards}\n", files)
    write_text(out, f"{rel}/dataset_type.txt", spec["type"] + "\n", files)
    if spec["type"] == "classification":
        write_text(out, f"{rel}/classnames.txt", "\n".join(spec["classes"]) + "\n", files)
        write_text(out, f"{rel}/zeroshot_classification_templates.txt", "\n".join(spec["templates"]) + "\n", files)
    entry = {
        "name": spec["name"],
        "type": spec["type"],
        "group": spec["group"],
        "num_classes": len(spec["classes"]) if spec["classes"] else None,
        "n": n,
        "path": rel,
        "shards": n_shards,
        "metric": spec["metric"],
    }
    return entry, redraws


def eval_task_names() -> list[str]:
    return [s["name"] for s in _task_specs()]
