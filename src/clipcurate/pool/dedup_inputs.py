"""What the dedup stage reads besides the score rules' inputs (rules/dedup.smk):

* the evaluation sets' test images embedded by a pool model (decontamination compares the pool with
  them): every task of the evaluation suite whose test split is webdataset shards
  (``<root>/<dataset>/test/*.tar``, clip_benchmark's layout: the tiny world's tasks, DataComp's
  downloaded ones at real scale), written as one embedding file keyed ``<task>/<shard>/<key>``;
* perceptual hashes of the pool's images (``imagehash.phash``), one file per chunk read from the
  chunk's shards, gathered into one index-aligned file (8 bytes a row: 1 GB at 128M).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa

from clipcurate.core import alignment, fileio, poolindex


def eval_test_dirs(suite: Mapping, root: str) -> dict[str, Path]:
    """Task key -> the directory of its test shards, for every suite task stored as webdataset
    shards under ``root`` (tasks in another layout, e.g. a Hugging Face cache, are skipped)."""
    out = {}
    for task in suite.get("tasks") or []:
        dataset = str(task.get("dataset", f"wds/{task['key']}")).removeprefix("wds/")
        d = Path(root) / dataset / "test"
        if sorted(d.glob("*.tar")):
            out[task["key"]] = d
    return out


def embed_eval_images(suite: Mapping, root: str, model_spec: Mapping, out_path, batch_size: int = 256,
                      dtype: str = "float32") -> dict:
    """Embed the test images of every webdataset task of the suite by one model (image vectors only)."""
    from clipcurate.embed.encode import _embed_samples, _embedding_table, iter_reference_samples

    t0 = time.time()
    dirs = eval_test_dirs(suite, root)
    if not dirs:
        raise fileio.ContractError(f"{root}: no evaluation task of suite {suite.get('name')!r} has webdataset test "
                                   "shards (<root>/<dataset>/test/*.tar); decontamination needs the test images")

    def samples():
        for task, d in dirs.items():
            for key, img, caption, _ in iter_reference_samples(d):
                yield f"{task}/{key}", img, caption, f"{d}: sample {key}"

    keys, img_out, _, corrupt = _embed_samples(samples(), model_spec, batch_size, None, str(root), with_text=False)
    fileio.write_table(_embedding_table(keys, "key", img_out, None, dtype, corrupt=corrupt), out_path)
    return {"tasks": list(dirs), "images": len(keys), "corrupt_images": len(corrupt), "seconds": round(time.time() - t0, 2)}


def phash_chunk(index_path, shards_dir, chunk: int, out_path, hash_size: int = 8) -> dict:
    """The perceptual hash of every image of one chunk, in index order: uid, ``phash`` (uint64),
    ``valid`` (false where the image does not decode; such a row is never a duplicate)."""
    from clipcurate.pool.dedup import phash_int
    from clipcurate.embed.encode import decode_image, iter_chunk_samples

    t0 = time.time()
    uids, hashes, valid = [], [], []
    for uid, jpg, _, path, key in iter_chunk_samples(index_path, shards_dir, int(chunk), with_place=True):
        im = decode_image(jpg, f"{path}: sample {key}")
        uids.append(uid)
        valid.append(im is not None)
        hashes.append(phash_int(im, hash_size) if im is not None else 0)
    fileio.write_table(pa.table({"uid": pa.array(uids, pa.string()), "phash": pa.array(np.array(hashes, np.uint64)),
                                 "valid": pa.array(valid, pa.bool_())}), out_path)
    n = len(uids)
    dt = time.time() - t0
    return {"chunk": int(chunk), "images": n, "undecodable": n - int(sum(valid)), "seconds": round(dt, 2),
            "images_per_second": round(n / dt, 1) if dt else None}


def gather_phash(chunk_paths: Sequence, index_path, out_path) -> int:
    """The chunks' hashes as one file, row-aligned with the pool index (uids checked)."""
    tables = [fileio.read_parquet(p, ["uid", "phash", "valid"], what="phash chunk") for p in chunk_paths]
    t = pa.concat_tables(tables) if tables else pa.table({"uid": pa.array([], pa.string()),
                                                         "phash": pa.array([], pa.uint64()), "valid": pa.array([], pa.bool_())})
    uids = poolindex.read_index(index_path, columns=["uid"]).column("uid")
    alignment.check_uid_order(str(chunk_paths[0]) if chunk_paths else str(out_path), t.column("uid"), uids)
    fileio.write_table(t, out_path, fingerprint=poolindex.index_fingerprint(index_path))
    return t.num_rows


def read_phash(path, rows_uids) -> tuple[np.ndarray, np.ndarray]:
    """Hashes and validity of a gathered phash file, checked against the rows' uids."""
    t = fileio.read_parquet(path, ["uid", "phash", "valid"], what="phash file")
    alignment.check_uid_order(str(path), t.column("uid"), rows_uids)
    return (t.column("phash").to_numpy(zero_copy_only=False).astype(np.uint64),
            t.column("valid").to_numpy(zero_copy_only=False).astype(bool))
