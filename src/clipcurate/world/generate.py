"""Generate the tiny world: the pool, reference sets, evaluation tasks and the manifest.

Layout under ``out_dir`` (URL path of a pool image = its path relative to ``out_dir``)::

    world.json                        manifest (seed, cfg, counts, tasks, size + sha256 of every file)
    truth.parquet                     uid, kind, cls, clean, failure, lang, dup_of (quality reports only)
    pool/metadata.parquet             uid, url, text, original_width, original_height, sha256
    pool/images/<uid>.jpg             served bytes (absent for 404 URLs)
    reference/<set>/{00000000..}.tar  webdataset shards (jpg, txt[, cls]) + meta.json
    eval/<task>/...                   clip_benchmark's wds layout (test/nshards.txt, test/0.tar, ...)

``world.json`` (``generate_world`` returns the same dict)::

    format: "clipcurate-world/1"; seed; base_url; native_size; cfg (resolved, defaults filled in)
    pool: {num_samples, kinds: {kind: n}, failures: {404|truncated|not_image|too_large: n},
           languages: {fr|de|es: n}, metadata, truth, images (paths), uid_fingerprint}
    reference: {set: {path, num_samples, shards, shard_size, labelled[, classnames, templates,
                text_fraction]}}
    eval_groups: [imagenet, dist_shift, vtab, retrieval, other]
    eval_tasks: [{name, type (classification|retrieval), group, num_classes (null for retrieval), n,
                  path, shards, metric (acc1 | mean_recall@1)}]
    eval_redraws: eval images redrawn because they equalled a training image (normally 0)
    concepts: {shapes, colours, counts, positions, sizes, textures, digits, languages, zeroshot_templates}
    files: {relative path: {size, sha256}} for every file written except world.json
    absent: [relative paths that must not exist: the 404 URLs]

Every component draws from its own random stream (``numpy.random.default_rng`` seeded with the world
seed and the component's name), so resizing one component leaves the others byte-identical.
Rendering is a pure function of the planned scenes, so ``threads`` changes speed, never content.
"""

from __future__ import annotations

import copy
import hashlib
from io import BytesIO
import json
import multiprocessing
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa

from clipcurate.core.io import atomic_path, uid_fingerprint, write_json, write_table
from . import concepts as C
from . import render as R
from .verify import MANIFEST, WorldError

FORMAT = "clipcurate-world/1"

KINDS: tuple[str, ...] = (
    "clean", "misaligned", "scene_text", "near_duplicate", "non_english",
    "uninformative", "bad_geometry", "failing_url",
)
FAILURES: tuple[str, ...] = ("404", "truncated", "not_image", "too_large")
BAD_GEOMETRIES: tuple[tuple[int, int], ...] = ((256, 16), (16, 256), (200, 20), (20, 200), (8, 8), (12, 12), (10, 10))
#: share of the pretraining set's text images that are scenes captioned naturally by their words
#: ("a photo of a red star" over the rendered words "red" / "star"); the rest are pure text images
#: captioned by the bare words
PRETRAIN_NATURAL_TEXT_SHARE = 0.7
REFERENCE_SETS: tuple[str, ...] = ("pretrain", "hq", "downstream", "retrieval_train")

DEFAULT_CFG: dict = {
    "pool_size": 20000,
    "native_size": 64,
    "kinds": {
        "clean": 0.40,
        "misaligned": 0.14,
        "scene_text": 0.10,
        "near_duplicate": 0.08,
        "non_english": 0.08,
        "uninformative": 0.07,
        "bad_geometry": 0.05,
        "failing_url": 0.08,
    },
    "sizes": {
        "pretrain": 12000,
        "hq": 6000,
        "downstream": 3000,
        "retrieval_train": 2000,
        "eval_per_task": 400,
    },
    # test images of single evaluation tasks, over sizes.eval_per_task: {task name: n}; a claims
    # configuration (config/claims.yaml) raises the tasks whose rows it compares
    "eval_task_sizes": {},
    "pretrain_text_fraction": 0.15,  # scene-text images (caption = the rendered words) in `pretrain`
    "digit_fraction": 0.06,  # digit scenes among generic scenes (pool, pretrain, hq)
    "shard_size": 1000,  # samples per reference / eval shard
}


# --------------------------------------------------------------------------------------------
# configuration


def default_cfg() -> dict:
    return copy.deepcopy(DEFAULT_CFG)


def _eval_task_sizes(value) -> dict:
    """``eval_task_sizes`` checked: a mapping of the world's task names to positive integers."""
    if not isinstance(value, dict):
        raise WorldError(f"world cfg: 'eval_task_sizes' must be a mapping of task name to test images, got {value!r}")
    known = eval_task_names()
    for task, n in value.items():
        if task not in known:
            raise WorldError(f"world cfg: eval_task_sizes: unknown task {task!r}; the world's tasks: {', '.join(known)}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise WorldError(f"world cfg: eval_task_sizes.{task} must be a positive integer, got {n!r}")
    return {str(k): int(v) for k, v in value.items()}


def resolve_cfg(cfg: dict | None) -> dict:
    """``cfg`` merged over the defaults and validated; unknown keys are an error (typos)."""
    cfg = dict(cfg or {})
    out = default_cfg()
    for key, value in cfg.items():
        if key not in out:
            raise WorldError(f"world cfg: unknown key {key!r}; known keys: {sorted(out)}")
        if key == "eval_task_sizes":
            out[key] = _eval_task_sizes(value)
        elif isinstance(out[key], dict):
            if not isinstance(value, dict):
                raise WorldError(f"world cfg: {key!r} must be a mapping, got {value!r}")
            for sub, v in value.items():
                if sub not in out[key]:
                    raise WorldError(f"world cfg: unknown key {key}.{sub}; known: {sorted(out[key])}")
                out[key][sub] = v
        else:
            out[key] = value
    for key in ("pool_size", "native_size", "shard_size"):
        if not isinstance(out[key], (int, np.integer)) or out[key] < 1:
            raise WorldError(f"world cfg: {key} must be a positive integer, got {out[key]!r}")
    if out["native_size"] < 16:
        raise WorldError(f"world cfg: native_size must be at least 16, got {out['native_size']}")
    for sub, v in out["sizes"].items():
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise WorldError(f"world cfg: sizes.{sub} must be a non-negative integer, got {v!r}")
    if out["sizes"]["eval_per_task"] < 1:
        raise WorldError("world cfg: sizes.eval_per_task must be at least 1")
    fr = out["kinds"]
    for k, v in fr.items():
        if not isinstance(v, (int, float)) or v < 0:
            raise WorldError(f"world cfg: kinds.{k} must be a fraction >= 0, got {v!r}")
    total = float(sum(fr.values()))
    if abs(total - 1.0) > 1e-6:
        raise WorldError(f"world cfg: kinds: the fractions must sum to 1, they sum to {total:.6f}")
    if fr["near_duplicate"] > 0 and fr["clean"] <= 0:
        raise WorldError("world cfg: near_duplicate > 0 needs clean > 0 (near duplicates copy clean images)")
    for key in ("pretrain_text_fraction", "digit_fraction"):
        if not 0.0 <= float(out[key]) <= 1.0:
            raise WorldError(f"world cfg: {key} must be in [0, 1], got {out[key]!r}")
    return out


def kind_counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split ``n`` by ``fractions`` with the largest-remainder method (ties: the order of KINDS)."""
    exact = {k: n * float(fractions[k]) for k in KINDS}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    left = n - sum(counts.values())
    order = sorted(KINDS, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for k in order[:left]:
        counts[k] += 1
    return counts


def split_evenly(n: int, parts: Iterable[str]) -> dict[str, int]:
    parts = list(parts)
    base, extra = divmod(n, len(parts))
    return {p: base + (1 if i < extra else 0) for i, p in enumerate(parts)}


# --------------------------------------------------------------------------------------------
# seeds and uids


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one component (independent of every other component's size)."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([int(seed), key]))


def make_uid(seed: int, index: int) -> str:
    return hashlib.sha256(f"clipcurate-world/{int(seed)}/{int(index)}".encode()).hexdigest()[:32]


# --------------------------------------------------------------------------------------------
# rendering jobs (picklable tuples; run in worker processes when threads > 1)


def _run_job(job: tuple, size: int) -> tuple[bytes, int, int, bytes]:
    """-> (payload bytes, width, height, pixel hash of the encoded array)."""
    op, scene = job[0], job[1]
    arr = R.render_scene(scene, size)
    if op == "scene":
        pass
    elif op == "neardup":
        _, _, dx, dy, sigma, seed, quality = job
        arr = R.perturb(arr, dx, dy, sigma, seed, quality)
    elif op == "resize":
        _, _, w, h = job
        arr = R.resize(arr, w, h)
    elif op == "truncated":
        data = R.encode_jpeg(arr)
        return data[: len(data) // 2], size, size, R.pixel_hash(arr)
    else:  # pragma: no cover
        raise ValueError(f"unknown render job {op!r}")
    return R.encode_jpeg(arr), arr.shape[1], arr.shape[0], R.pixel_hash(arr)


def _run_chunk(args) -> list:
    jobs, size = args
    return [_run_job(j, size) for j in jobs]


PARALLEL_MIN_JOBS = 512  # below this, worker start-up costs more than it saves


def _map_jobs(jobs: list, size: int, threads: int) -> Iterator[tuple]:
    if threads <= 1 or len(jobs) < PARALLEL_MIN_JOBS:
        for j in jobs:
            yield _run_job(j, size)
        return
    chunk = 256
    chunks = [(jobs[i : i + chunk], size) for i in range(0, len(jobs), chunk)]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ctx.Pool(threads) as pool:
        for res in pool.imap(_run_chunk, chunks):
            yield from res


# --------------------------------------------------------------------------------------------
# scene samplers


def generic_scene(rng: np.random.Generator, cfg: dict) -> C.Scene:
    if rng.random() < cfg["digit_fraction"]:
        return C.sample_digit_scene(rng)
    return C.sample_shape_scene(rng)


def _different_scene(rng: np.random.Generator, cfg: dict, scene: C.Scene) -> C.Scene:
    while True:
        other = generic_scene(rng, cfg)
        if other.cls != scene.cls:
            return other


# --------------------------------------------------------------------------------------------
# the pool


def plan_pool(cfg: dict, seed: int) -> list[dict]:
    """One dict per pool sample (in uid order): uid, kind, text, job/payload, truth fields."""
    rng = stream(seed, "pool")
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

    plan: list[dict] = []
    clean_idx: list[int] = []
    for i, kind in enumerate(kinds.tolist()):
        uid = make_uid(seed, i)
        row = {"uid": uid, "kind": kind, "failure": None, "lang": None, "dup_of": None,
               "width": size, "height": size}
        if kind == "clean":
            scene = generic_scene(rng, cfg)
            row.update(text=C.caption_en(scene, rng), job=("scene", scene), cls=_shape_cls(scene))
            clean_idx.append(i)
        elif kind == "misaligned":
            scene = generic_scene(rng, cfg)
            other = _different_scene(rng, cfg, scene)
            row.update(text=C.caption_en(other, rng), job=("scene", scene), cls=_shape_cls(scene))
        elif kind == "scene_text":
            scene = C.sample_shape_scene(rng)
            shown = C.sample_scene_text_scene(rng, scene)
            row.update(text=C.caption_scene_text(shown, rng), job=("scene", shown), cls=scene.cls)
        elif kind == "near_duplicate":
            j = clean_idx[int(rng.integers(len(clean_idx)))]
            src = plan[j]
            scene = src["job"][1]
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
            row.update(text=C.uninformative_caption(rng), job=("scene", scene), cls=_shape_cls(scene))
        elif kind == "bad_geometry":
            scene = generic_scene(rng, cfg)
            w, h = BAD_GEOMETRIES[int(rng.integers(len(BAD_GEOMETRIES)))]
            row.update(text=C.caption_en(scene, rng), job=("resize", scene, w, h), cls=_shape_cls(scene),
                       width=w, height=h)
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
        else:  # pragma: no cover
            raise AssertionError(kind)
        plan.append(row)
    return plan


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _shape_cls(scene: C.Scene) -> str | None:
    return scene.cls if scene.subject == "shape" else None


def write_pool(out: Path, plan: list[dict], cfg: dict, base_url: str, threads: int,
               files: dict, absent: list, hashes: set) -> dict:
    size = int(cfg["native_size"])
    img_dir = out / "pool" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    jobs = [r["job"] for r in plan if r["job"] is not None]
    results = _map_jobs(jobs, size, threads)
    base_url = base_url.rstrip("/")
    shas: list[str | None] = []
    too_large_rel = None
    too_large_sha = hashlib.sha256(R.too_large_png()).hexdigest()
    for r in plan:
        rel = f"pool/images/{r['uid']}.jpg"
        if r["job"] is not None:
            data, w, h, ph = next(results)
            hashes.add(ph)
            if r["kind"] != "failing_url":
                r["width"], r["height"] = w, h
        elif r["failure"] == "404":
            data = None
        elif r["failure"] == "not_image":
            data = R.not_image_html(r["uid"])
        elif r["failure"] == "too_large":
            data = R.too_large_png()
        else:  # pragma: no cover
            raise AssertionError(r)
        if data is None:
            absent.append(rel)
            shas.append(None)
            continue
        if r["failure"] == "too_large":
            # the same ~200 KB for every such URL: hard-link the first copy instead of rewriting it
            if too_large_rel is None:
                too_large_rel = rel
                (out / rel).write_bytes(data)
            else:
                _link_or_copy(out / too_large_rel, out / rel)
        else:
            (out / rel).write_bytes(data)
        sha = too_large_sha if r["failure"] == "too_large" else hashlib.sha256(data).hexdigest()
        files[rel] = {"size": len(data), "sha256": sha}
        shas.append(sha)
    uids = [r["uid"] for r in plan]
    meta = pa.table({
        "uid": pa.array(uids, pa.string()),
        "url": pa.array([f"{base_url}/pool/images/{u}.jpg" for u in uids], pa.string()),
        "text": pa.array([r["text"] for r in plan], pa.string()),
        "original_width": pa.array([r["width"] for r in plan], pa.int64()),
        "original_height": pa.array([r["height"] for r in plan], pa.int64()),
        "sha256": pa.array(shas, pa.string()),
    })
    truth = pa.table({
        "uid": pa.array(uids, pa.string()),
        "kind": pa.array([r["kind"] for r in plan], pa.string()),
        "cls": pa.array([r["cls"] for r in plan], pa.string()),
        "clean": pa.array([r["kind"] == "clean" for r in plan], pa.bool_()),
        "failure": pa.array([r["failure"] for r in plan], pa.string()),
        "lang": pa.array([r["lang"] for r in plan], pa.string()),
        "dup_of": pa.array([r["dup_of"] for r in plan], pa.string()),
    })
    write_table(meta, out / "pool" / "metadata.parquet")
    write_table(truth, out / "truth.parquet")
    for rel in ("pool/metadata.parquet", "truth.parquet"):
        _record(out, rel, files)
    kinds = {k: 0 for k in KINDS}
    for r in plan:
        kinds[r["kind"]] += 1
    fails = {f: sum(1 for r in plan if r["failure"] == f) for f in FAILURES}
    langs = {lang: sum(1 for r in plan if r["lang"] == lang) for lang in C.LANGUAGES}
    return {
        "num_samples": len(plan),
        "kinds": kinds,
        "failures": fails,
        "languages": langs,
        "metadata": "pool/metadata.parquet",
        "truth": "truth.parquet",
        "images": "pool/images",
        "uid_fingerprint": uid_fingerprint(uids),
    }


# --------------------------------------------------------------------------------------------
# webdataset shards


def _tar_member(name: str, size: int) -> tarfile.TarInfo:
    """A regular file, mode 0444, uid/gid 0, mtime 0, no owner names: nothing from the machine or
    the clock, so a seed gives byte-identical shards (written in USTAR format, see :func:`write_shards`)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o444, 0
    return info


def write_shards(out: Path, rel_dir: str, samples: Iterable[dict], shard_size: int,
                 name_fn: Callable[[int], str], files: dict) -> int:
    """Write samples ({key, ext: bytes}) into tar shards ``rel_dir/name_fn(k)``; returns the shard count.

    Shards are written with ``tarfile`` in POSIX USTAR format (webdataset's layout: ``key.ext``
    members in sample order), each through :func:`clipcurate.core.io.atomic_path`.
    """
    shard, tf, tmp_ctx, n_shards, in_shard = None, None, None, 0, 0
    (out / rel_dir).mkdir(parents=True, exist_ok=True)

    def close():
        nonlocal tf, tmp_ctx
        if tf is not None:
            tf.close()
            tmp_ctx.__exit__(None, None, None)
            _record(out, f"{rel_dir}/{shard}", files)
            tf, tmp_ctx = None, None

    try:
        for s in samples:
            if tf is None or in_shard >= shard_size:
                close()
                shard = name_fn(n_shards)
                tmp_ctx = atomic_path(out / rel_dir / shard, suffix=".tar")
                tf = tarfile.open(tmp_ctx.__enter__(), "w", format=tarfile.USTAR_FORMAT)
                n_shards += 1
                in_shard = 0
            key = s["key"]
            for ext, data in s.items():
                if ext != "key":
                    tf.addfile(_tar_member(f"{key}.{ext}", len(data)), BytesIO(data))
            in_shard += 1
        close()
    except BaseException:
        if tf is not None:
            tf.fileobj.close()
            tmp_ctx.__exit__(*sys.exc_info())
        raise
    return n_shards


def _record(out: Path, rel: str, files: dict) -> None:
    data = (out / rel).read_bytes()
    files[rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _write_text(out: Path, rel: str, text: str, files: dict) -> None:
    with atomic_path(out / rel) as tmp:
        tmp.write_text(text)
    _record(out, rel, files)


# --------------------------------------------------------------------------------------------
# reference sets


def plan_reference(name: str, n: int, cfg: dict, seed: int) -> list[dict]:
    """Samples of one reference set: {job, txt[, cls]}."""
    rng = stream(seed, f"reference/{name}")
    out = []
    for _ in range(n):
        if name == "pretrain":
            if rng.random() < cfg["pretrain_text_fraction"]:
                u = rng.random()
                if u < PRETRAIN_NATURAL_TEXT_SHARE:
                    # text in a scene, captioned naturally: the caption mentions the rendered words
                    # (like a photo of a sign captioned by what it shows). This is what makes the
                    # reference CLIP score the pool's scene-text images high, as OpenAI's CLIP does.
                    scene = C.sample_scene_text_scene(rng, C.sample_shape_scene(rng))
                    out.append({"job": ("scene", scene), "txt": C.caption_scene_text(scene, rng)})
                    continue
                # pure text ("OCR") sample: caption = the rendered words
                u = (u - PRETRAIN_NATURAL_TEXT_SHARE) / (1 - PRETRAIN_NATURAL_TEXT_SHARE)
                shape = C.SHAPES[int(rng.integers(len(C.SHAPES)))]
                colour = C.COLOUR_NAMES[int(rng.integers(len(C.COLOUR_NAMES)))]
                if u < 0.45:
                    words = [shape]
                elif u < 0.8:
                    words = [colour, shape]
                elif u < 0.9:
                    words = [colour]
                else:
                    words = [C.DIGIT_WORDS[int(rng.integers(10))]]
                scene = C.sample_text_scene(rng, words)
                out.append({"job": ("scene", scene), "txt": C.text_caption(words, rng)})
            else:
                scene = generic_scene(rng, cfg)
                out.append({"job": ("scene", scene), "txt": C.caption_en(scene, rng)})
        elif name == "hq":
            scene = generic_scene(rng, cfg)
            out.append({"job": ("scene", scene), "txt": C.caption_en(scene, rng)})
        elif name == "downstream":
            label = int(rng.integers(len(C.SHAPES)))
            scene = C.sample_shape_scene(rng, shape=C.SHAPES[label], count=1)
            t = C.ZEROSHOT_TEMPLATES[int(rng.integers(len(C.ZEROSHOT_TEMPLATES)))]
            out.append({"job": ("scene", scene), "txt": t.format(c=C.SHAPES[label]), "cls": label})
        elif name == "retrieval_train":
            scene = C.sample_shape_scene(rng, count_p=(0.5, 0.2, 0.15, 0.15))
            out.append({"job": ("scene", scene), "txt": C.caption_en(scene, rng)})
        else:  # pragma: no cover
            raise ValueError(name)
    return out


def write_reference(out: Path, name: str, cfg: dict, seed: int, threads: int, files: dict, hashes: set) -> dict:
    n = int(cfg["sizes"][name])
    plan = plan_reference(name, n, cfg, seed)
    size = int(cfg["native_size"])
    results = _map_jobs([p["job"] for p in plan], size, threads)
    rel_dir = f"reference/{name}"

    def samples():
        for i, (p, res) in enumerate(zip(plan, results)):
            data, _, _, ph = res
            hashes.add(ph)
            s = {"key": f"{i:09d}", "jpg": data, "txt": p["txt"].encode()}
            if "cls" in p:
                s["cls"] = str(p["cls"]).encode()
            yield s

    shard_size = int(cfg["shard_size"])
    n_shards = write_shards(out, rel_dir, samples(), shard_size, lambda k: f"{k:08d}.tar", files)
    info = {"num_samples": n, "shards": n_shards, "shard_size": shard_size, "labelled": name == "downstream"}
    if name == "downstream":
        _write_text(out, f"{rel_dir}/classnames.txt", "\n".join(C.SHAPES) + "\n", files)
        _write_text(out, f"{rel_dir}/templates.txt", "\n".join(C.ZEROSHOT_TEMPLATES) + "\n", files)
        info["classnames"] = f"{rel_dir}/classnames.txt"
        info["templates"] = f"{rel_dir}/templates.txt"
    if name == "pretrain":
        info["text_fraction"] = cfg["pretrain_text_fraction"]
    write_json(info, out / rel_dir / "meta.json")
    _record(out, f"{rel_dir}/meta.json", files)
    return {"path": rel_dir, **info}


# --------------------------------------------------------------------------------------------
# evaluation tasks


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


def write_eval_task(out: Path, spec: dict, cfg: dict, seed: int, threads: int, files: dict,
                    train_hashes: set) -> tuple[dict, int]:
    n = int(cfg.get("eval_task_sizes", {}).get(spec["name"], cfg["sizes"]["eval_per_task"]))
    size = int(cfg["native_size"])
    rng = stream(seed, f"eval/{spec['name']}")
    if spec["type"] == "classification":
        k = len(spec["classes"])
        labels = rng.permutation(np.arange(n) % k).tolist()
    else:
        labels = [None] * n
    planned = [_eval_sample(spec, rng, y) for y in labels]
    results = list(_map_jobs([("scene", sc) for sc, _ in planned], size, threads))
    # no evaluation image may equal a pool or reference image: redraw (from a separate stream) on a hit
    redraw_rng = stream(seed, f"eval-redraw/{spec['name']}")
    redraws = 0
    for i, (data, w, h, ph) in enumerate(results):
        while ph in train_hashes:
            redraws += 1
            planned[i] = _eval_sample(spec, redraw_rng, labels[i])
            data, w, h, ph = _run_job(("scene", planned[i][0]), size)
            results[i] = (data, w, h, ph)
    rel = f"eval/{spec['name']}"

    def samples():
        for i, ((scene, caps), (data, _, _, _)) in enumerate(zip(planned, results)):
            s = {"key": f"s{i:07d}", "jpg": data}
            if spec["type"] == "classification":
                s["cls"] = str(labels[i]).encode()
            else:
                s["txt"] = "\n".join(caps).encode()
            yield s

    n_shards = write_shards(out, f"{rel}/test", samples(), int(cfg["shard_size"]), lambda k: f"{k}.tar", files)
    _write_text(out, f"{rel}/test/nshards.txt", f"{n_shards}\n", files)
    _write_text(out, f"{rel}/dataset_type.txt", spec["type"] + "\n", files)
    if spec["type"] == "classification":
        _write_text(out, f"{rel}/classnames.txt", "\n".join(spec["classes"]) + "\n", files)
        _write_text(out, f"{rel}/zeroshot_classification_templates.txt", "\n".join(spec["templates"]) + "\n", files)
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


# --------------------------------------------------------------------------------------------
# entry point


def _clear(out: Path) -> None:
    for name in (MANIFEST, "truth.parquet"):
        p = out / name
        if p.exists():
            p.unlink()
    for name in ("pool", "reference", "eval"):
        p = out / name
        if p.is_dir():
            shutil.rmtree(p)


def generate_world(out_dir: str | Path, cfg: dict, base_url: str, seed: int, threads: int = 1) -> dict:
    """Generate the world under ``out_dir`` and return its manifest (also written to ``world.json``).

    Same (cfg, base_url, seed) => byte-identical files, whatever ``threads``. Any previous world in
    ``out_dir`` (world.json, truth.parquet, pool/, reference/, eval/) is removed first; world.json is
    written last, so its presence marks a complete world.
    """
    t0 = time.perf_counter()
    cfg = resolve_cfg(cfg)
    seed = int(seed)
    threads = max(1, int(threads))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)

    files: dict[str, dict] = {}
    absent: list[str] = []
    train_hashes: set[bytes] = set()

    plan = plan_pool(cfg, seed)
    pool_info = write_pool(out, plan, cfg, base_url, threads, files, absent, train_hashes)
    n_images = sum(1 for r in plan if r["job"] is not None)

    reference = {}
    for name in REFERENCE_SETS:
        reference[name] = write_reference(out, name, cfg, seed, threads, files, train_hashes)
        n_images += reference[name]["num_samples"]

    tasks, redraws = [], 0
    for spec in _task_specs():
        entry, r = write_eval_task(out, spec, cfg, seed, threads, files, train_hashes)
        tasks.append(entry)
        redraws += r
        n_images += entry["n"]

    manifest = {
        "format": FORMAT,
        "seed": seed,
        "base_url": base_url.rstrip("/"),
        "cfg": cfg,
        "native_size": int(cfg["native_size"]),
        "pool": pool_info,
        "reference": reference,
        "eval_groups": list(EVAL_GROUPS),
        "eval_tasks": tasks,
        "eval_redraws": redraws,
        "concepts": {
            "shapes": list(C.SHAPES),
            "colours": list(C.COLOUR_NAMES),
            "counts": [C.COUNT_WORDS[c] for c in C.COUNTS],
            "positions": list(C.POSITIONS),
            "sizes": list(C.SIZES),
            "textures": list(C.TEXTURES),
            "digits": list(C.DIGITS),
            "languages": list(C.LANGUAGES),
            "zeroshot_templates": list(C.ZEROSHOT_TEMPLATES),
        },
        "files": dict(sorted(files.items())),
        "absent": sorted(absent),
    }
    write_json(manifest, out / MANIFEST)
    dt = time.perf_counter() - t0
    print(f"[world] {out}: {n_images} images ({pool_info['num_samples']} pool, "
          f"{len(tasks)} eval tasks) in {dt:.1f}s with {threads} thread(s)", flush=True)
    return json.loads((out / MANIFEST).read_text())
