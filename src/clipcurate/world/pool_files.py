"""Writing the pool: the served image files, ``pool/metadata.parquet`` (what DataComp ships) and
``truth.parquet`` (what only the world knows, for quality reports and tests)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa

from clipcurate.core.fileio import write_table
from clipcurate.core.uidcodec import uid_fingerprint
from . import concepts as C
from . import geometry as GEO
from . import render as R
from .config import FAILURES, KINDS
from .eval_copies import summary as eval_copy_summary
from .jobs import map_jobs
from .shards import link_or_copy, record

#: the smallest side the tiny world's basic filter keeps (config ``scores.basic.params.min_side``)
MIN_SIDE = 16
FACE_BBOXES_TYPE = pa.list_(pa.list_(pa.float64()))


def write_pool_images(out: Path, plan: list[dict], cfg: dict, threads: int, files: dict, absent: list,
                      hashes: set | None, rows: list[int]) -> None:
    """Render and write the served files of ``plan[i]`` for ``i`` in ``rows``; each row gets its
    ``sha256`` (None for a 404) and its served ``width``/``height``. Pixel hashes go to ``hashes``
    (the training images no evaluation image may equal) unless it is None."""
    size = int(cfg["native_size"])
    img_dir = out / "pool" / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    results = map_jobs([plan[i]["job"] for i in rows if plan[i]["job"] is not None], size, threads)
    too_large_sha = hashlib.sha256(R.too_large_png()).hexdigest()
    too_large_rel = next((rel for rel, e in files.items() if e["sha256"] == too_large_sha), None)
    for i in rows:
        r = plan[i]
        rel = f"pool/images/{r['uid']}.jpg"
        if r["job"] is not None:
            data, w, h, ph = next(results)
            if hashes is not None:
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
            r["sha256"] = None
            continue
        if r["failure"] == "too_large":
            # the same ~200 KB for every such URL: hard-link the first copy instead of rewriting it
            if too_large_rel is None:
                too_large_rel = rel
                (out / rel).write_bytes(data)
            else:
                link_or_copy(out / too_large_rel, out / rel)
        else:
            (out / rel).write_bytes(data)
        sha = too_large_sha if r["failure"] == "too_large" else hashlib.sha256(data).hexdigest()
        files[rel] = {"size": len(data), "sha256": sha}
        r["sha256"] = sha


def write_pool_tables(out: Path, plan: list[dict], base_url: str, files: dict) -> dict:
    """``pool/metadata.parquet`` and ``truth.parquet`` of the written pool; returns the manifest's
    ``pool`` entry (counts of kinds, failures, languages, geometry, faces and eval copies)."""
    base_url = base_url.rstrip("/")
    uids = [r["uid"] for r in plan]
    meta = pa.table({
        "uid": pa.array(uids, pa.string()),
        "url": pa.array([f"{base_url}/pool/images/{u}.jpg" for u in uids], pa.string()),
        "text": pa.array([r["text"] for r in plan], pa.string()),
        "original_width": pa.array([r["width"] for r in plan], pa.int64()),
        "original_height": pa.array([r["height"] for r in plan], pa.int64()),
        "sha256": pa.array([r["sha256"] for r in plan], pa.string()),
        "face_bboxes": pa.array([r["face_bboxes"] for r in plan], FACE_BBOXES_TYPE),
    })
    geometry = [GEO.geometry_label(r["width"], r["height"], MIN_SIDE) for r in plan]
    truth = pa.table({
        "uid": pa.array(uids, pa.string()),
        "kind": pa.array([r["kind"] for r in plan], pa.string()),
        "cls": pa.array([r["cls"] for r in plan], pa.string()),
        "clean": pa.array([r["kind"] == "clean" for r in plan], pa.bool_()),
        "failure": pa.array([r["failure"] for r in plan], pa.string()),
        "lang": pa.array([r["lang"] for r in plan], pa.string()),
        "dup_of": pa.array([r["dup_of"] for r in plan], pa.string()),
        "eval_of": pa.array([r["eval_of"] for r in plan], pa.string()),
        "aspect": pa.array([GEO.aspect_ratio(r["width"], r["height"]) for r in plan], pa.float64()),
        "geometry": pa.array(geometry, pa.string()),
    })
    write_table(meta, out / "pool" / "metadata.parquet")
    write_table(truth, out / "truth.parquet")
    for rel in ("pool/metadata.parquet", "truth.parquet"):
        record(out, rel, files)
    kinds = {k: 0 for k in KINDS}
    for r in plan:
        kinds[r["kind"]] += 1
    served = [g for g, r in zip(geometry, plan) if r["failure"] is None]
    return {
        "num_samples": len(plan),
        "kinds": kinds,
        "failures": {f: sum(1 for r in plan if r["failure"] == f) for f in FAILURES},
        "languages": {lang: sum(1 for r in plan if r["lang"] == lang) for lang in C.LANGUAGES},
        "geometry": {g: served.count(g) for g in ("square", "photo", "extreme", "small")},
        "faces": sum(1 for r in plan if r["face_bboxes"]),
        "eval_copies": eval_copy_summary(plan),
        "metadata": "pool/metadata.parquet",
        "truth": "truth.parquet",
        "images": "pool/images",
        "uid_fingerprint": uid_fingerprint(uids),
    }
