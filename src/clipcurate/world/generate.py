"""Generate the tiny world: the pool, reference sets, evaluation tasks and the manifest.

Layout under ``out_dir`` (URL path of a pool image = its path relative to ``out_dir``)::

    world.json                        manifest (seed, cfg, counts, tasks, size + sha256 of every file)
    truth.parquet                     uid, kind, cls, clean, failure, lang, dup_of, eval_of, aspect,
                                      geometry (quality reports and tests only)
    pool/metadata.parquet             uid, url, text, original_width, original_height, sha256, face_bboxes
    pool/images/<uid>.jpg             served bytes (absent for 404 URLs)
    reference/<set>/{00000000..}.tar  webdataset shards (jpg, txt[, cls]) + meta.json
    eval/<task>/...                   clip_benchmark's wds layout (test/nshards.txt, test/0.tar, ...)

``world.json`` (``generate_world`` returns the same dict)::

    format: "clipcurate-world/2"; seed; base_url; native_size; cfg (resolved, defaults filled in)
    pool: {num_samples, kinds: {kind: n}, failures: {404|truncated|not_image|too_large: n},
           languages: {fr|de|es: n}, geometry: {square|photo|extreme|small: n} (served images),
           faces: n (samples with a face box), eval_copies: {count, exact, perturbed, tasks: {task: n}},
           metadata, truth, images (paths), uid_fingerprint}
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

The work is split by job: :mod:`.config` (kinds, defaults, validation), :mod:`.streams` (seeds,
uids), :mod:`.scenes` / :mod:`.pool_kinds` (planning the pool), :mod:`.faces`, :mod:`.geometry`,
:mod:`.eval_copies` (the kinds and columns the Devil pipeline and decontamination need),
:mod:`.jobs` (rendering), :mod:`.pool_files` / :mod:`.shards` (writing), :mod:`.reference`,
:mod:`.eval_tasks`; this module runs them in order. Its names re-export the public ones.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from clipcurate.core.fileio import write_json
from . import concepts as C
from . import eval_copies
from .config import DEFAULT_CFG, FAILURES, KINDS, REFERENCE_SETS, default_cfg, kind_counts, resolve_cfg, split_evenly
from .eval_tasks import EVAL_GROUPS, _task_specs, eval_task_names, write_eval_task
from .geometry import BAD_GEOMETRIES
from .jobs import PARALLEL_MIN_JOBS, map_jobs, run_job
from .pool_files import write_pool_images, write_pool_tables
from .pool_kinds import plan_pool
from .reference import PRETRAIN_NATURAL_TEXT_SHARE, plan_reference, write_reference
from .scenes import generic_scene
from .shards import write_shards
from .streams import make_uid, stream
from .verify import MANIFEST, WorldError

FORMAT = "clipcurate-world/2"

__all__ = [
    "BAD_GEOMETRIES", "DEFAULT_CFG", "EVAL_GROUPS", "FAILURES", "FORMAT", "KINDS", "PARALLEL_MIN_JOBS",
    "PRETRAIN_NATURAL_TEXT_SHARE", "REFERENCE_SETS", "WorldError", "default_cfg", "eval_task_names",
    "generate_world", "generic_scene", "kind_counts", "make_uid", "map_jobs", "plan_pool", "plan_reference",
    "resolve_cfg", "run_job", "split_evenly", "stream", "write_eval_task", "write_reference", "write_shards",
    "_task_specs",
]


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

    Order: the pool's images (but its eval copies), the reference sets, the evaluation tasks (an
    eval image equal to any image written so far is redrawn), then the pool's eval copies of the
    final eval images and the pool's metadata and truth.
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
    copies = [i for i, r in enumerate(plan) if r["kind"] == "eval_copy"]
    first = [i for i, r in enumerate(plan) if r["kind"] != "eval_copy"]
    write_pool_images(out, plan, cfg, threads, files, absent, train_hashes, first)

    reference = {}
    n_images = sum(1 for r in plan if r["job"] is not None or r["kind"] == "eval_copy")
    for name in REFERENCE_SETS:
        reference[name] = write_reference(out, name, cfg, seed, threads, files, train_hashes)
        n_images += reference[name]["num_samples"]

    tasks, redraws, planned = [], 0, {}
    for spec in _task_specs():
        planned[spec["name"]] = {}
        entry, r = write_eval_task(out, spec, cfg, seed, threads, files, train_hashes, planned[spec["name"]])
        tasks.append(entry)
        redraws += r
        n_images += entry["n"]

    eval_copies.resolve(plan, planned, seed)
    write_pool_images(out, plan, cfg, threads, files, absent, None, copies)
    pool_info = write_pool_tables(out, plan, base_url, files)

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
          f"{len(tasks)} eval tasks) in {dt:.1f}s with {threads} thread(s); {summary_line(manifest)}", flush=True)
    return json.loads((out / MANIFEST).read_text())


def summary_line(manifest: dict) -> str:
    """One line of the pool's ground truth: kinds, eval copies, faces and geometry."""
    pool = manifest["pool"]
    kinds = ", ".join(f"{k} {n}" for k, n in pool["kinds"].items())
    ec = pool.get("eval_copies", {})
    geo = ", ".join(f"{k} {n}" for k, n in pool.get("geometry", {}).items())
    return (f"pool kinds: {kinds}; eval copies planted: {ec.get('count', 0)} ({ec.get('exact', 0)} exact, "
            f"{ec.get('perturbed', 0)} perturbed); face boxes: {pool.get('faces', 0)}; served geometry: {geo}")
