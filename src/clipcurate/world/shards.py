"""Writing the world's files: webdataset tar shards, small text files, and their manifest entries
(size and sha256 of every file, checked later by :func:`~.verify.verify_world`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Callable, Iterable

from clipcurate.core.fileio import atomic_path


def tar_member(name: str, size: int) -> tarfile.TarInfo:
    """A regular file, mode 0444, uid/gid 0, mtime 0, no owner names: nothing from the machine or
    the clock, so a seed gives byte-identical shards (written in USTAR format, see :func:`write_shards`)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o444, 0
    return info


def record(out: Path, rel: str, files: dict) -> None:
    """Enter ``out/rel``'s size and sha256 into the manifest's ``files``."""
    data = (out / rel).read_bytes()
    files[rel] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_text(out: Path, rel: str, text: str, files: dict) -> None:
    with atomic_path(out / rel) as tmp:
        tmp.write_text(text)
    record(out, rel, files)


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_shards(out: Path, rel_dir: str, samples: Iterable[dict], shard_size: int,
                 name_fn: Callable[[int], str], files: dict) -> int:
    """Write samples ({key, ext: bytes}) into tar shards ``rel_dir/name_fn(k)``; returns the shard count.

    Shards are written with ``tarfile`` in POSIX USTAR format (webdataset's layout: ``key.ext``
    members in sample order), each through :func:`clipcurate.core.fileio.atomic_path`.
    """
    shard, tf, tmp_ctx, n_shards, in_shard = None, None, None, 0, 0
    (out / rel_dir).mkdir(parents=True, exist_ok=True)

    def close():
        nonlocal tf, tmp_ctx
        if tf is not None:
            tf.close()
            tmp_ctx.__exit__(None, None, None)
            record(out, f"{rel_dir}/{shard}", files)
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
                    tf.addfile(tar_member(f"{key}.{ext}", len(data)), BytesIO(data))
            in_shard += 1
        close()
    except BaseException:
        if tf is not None:
            tf.fileobj.close()
            tmp_ctx.__exit__(*sys.exc_info())
        raise
    return n_shards
