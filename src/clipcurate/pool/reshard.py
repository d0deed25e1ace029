"""Reshard a subset into training shards, the way DataComp's resharder does.

Every selected sample is copied ``count`` times (repeats are how soft/hard cap sampling and
quality-based duplication become physical copies). Copies pass through a seeded shuffle buffer so
that a training batch does not hold many copies of one example (FLYT used a 1.5M buffer at medium
scale, §4.3); the buffer size is a per-scale config value. Outputs follow DataComp: ``{:08d}.tar``,
``{:08d}_stats.json`` per shard, ``sample_ids.npy`` and ``meta.json``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import time
from collections import defaultdict
from io import BytesIO
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow.compute as pc

from clipcurate.core import fileio, poolindex, scorefiles, uidcodec
from clipcurate.pool.download import shard_path
from clipcurate.core.progress import progress

log = logging.getLogger(__name__)


def _iter_samples(tar_path: Path):
    """Yield (key, {ext: bytes}) from a webdataset tar, grouping members by key.

    A shard that cannot be read to its end (cut short by an interrupted copy, or corrupt) is a
    ContractError naming the shard and the sample being read, not a bare ``ReadError``.
    """
    fileio.check_complete_tar(tar_path)
    current, files = None, {}
    try:
        with tarfile.open(tar_path) as tf:
            for member in tf:
                if not member.isfile():
                    continue
                base = os.path.basename(member.name)
                key, _, ext = base.partition(".")
                if key != current and current is not None:
                    yield current, files
                    files = {}
                current = key
                files[ext] = tf.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as e:
        raise fileio.ContractError(
            f"{tar_path}: shard is truncated or corrupt ({type(e).__name__}: {e}) at sample {current!r}; "
            "expected a complete webdataset tar. Delete the shard and rerun the download"
        ) from e
    if current is not None:
        yield current, files


class _ShuffleBuffer:
    """Reservoir-style shuffle: hold up to ``size`` items, emit a random one when full."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size = max(1, int(size))
        self.items: list = []
        self.rng = rng

    def push(self, item):
        if len(self.items) < self.size:
            self.items.append(item)
            return None
        i = int(self.rng.integers(len(self.items)))
        out, self.items[i] = self.items[i], item
        return out

    def drain(self):
        order = self.rng.permutation(len(self.items))
        for i in order:
            yield self.items[i]
        self.items = []


def reshard(
    subset_path: str | os.PathLike,
    index_path: str | os.PathLike,
    shards_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    shard_size: int,
    shuffle_buffer: int,
    seed: int,
    extra_shards: Sequence[str | os.PathLike] = (),
) -> dict:
    """Write the subset's samples (with repeats) as shuffled webdataset shards; return meta.

    ``extra_shards`` are webdataset shards of data added to the training set as is, once each (the
    DFN paper's Table 8 adds ImageNet-train to a DFN-filtered subset); their samples enter the
    stream at seeded random positions, so the shuffle buffer mixes them with the subset's anywhere.
    """
    t0 = time.time()
    subset = scorefiles.read_subset(subset_path)
    index = poolindex.read_index(index_path, columns=["uid", "shard", "key"])
    pos_arr = pc.index_in(subset.column("uid"), value_set=index.column("uid"))
    if pos_arr.null_count:
        first = subset.column("uid")[int(pc.index(pc.is_null(pos_arr), True).as_py())].as_py()
        raise fileio.ContractError(
            f"{subset_path}: {pos_arr.null_count} uids are not in the pool index {index_path}, e.g. {first}"
        )
    pos = pos_arr.to_numpy().astype(np.int64)
    counts = subset.column("count").to_numpy().astype(np.int64)
    shard_of = index.column("shard").to_numpy()[pos]
    keys = np.asarray(index.column("key").to_pylist(), dtype=object)[pos]
    uids = np.asarray(subset.column("uid").to_pylist(), dtype=object)

    wanted: dict[int, dict[str, tuple[str, int]]] = defaultdict(dict)
    for s, k, u, c in zip(shard_of, keys, uids, counts):
        wanted[int(s)][k] = (u, int(c))

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    buf = _ShuffleBuffer(shuffle_buffer, rng)
    writer = _ShardWriter(tmp, shard_size)
    processed = 0
    extras = _extra_stream(extra_shards, int(counts.sum()), rng)
    n_extra = extras.total
    bar = progress(total=int(counts.sum()) + n_extra, desc=f"reshard {Path(subset_path).stem}", unit="samples")
    emitted = 0

    def push(item):
        out = buf.push(item)
        if out is not None:
            writer.write(*out)
            bar.update(1)

    for shard in sorted(wanted):
        need = wanted[shard]
        # img2dataset writes a shard's samples in download-completion order, which differs from one
        # download to the next; key order makes the output a function of the subset and the seed alone.
        found = {key: files for key, files in _iter_samples(shard_path(shards_dir, shard)) if key in need}
        lost = sorted(set(need) - set(found))
        if lost:
            raise fileio.ContractError(
                f"{shard_path(shards_dir, shard)}: {len(lost)} selected samples are in the pool index but not in "
                f"the shard, e.g. key {lost[0]} (uid {need[lost[0]][0]}); expected every indexed sample. "
                "The shard was replaced or cut short: rerun the download and the pool index"
            )
        for key in sorted(found):
            files = found[key]
            uid, count = need[key]
            processed += 1
            sample = {ext: data for ext, data in files.items() if ext in ("jpg", "txt", "json")}
            for j in range(count):
                for extra in extras.before(emitted):
                    push(extra)
                push((f"{uid}-{j}", sample))
                emitted += 1
    for extra in extras.before(None):
        push(extra)
    for item in buf.drain():
        writer.write(*item)
        bar.update(1)
    bar.close()
    writer.close()
    expected = int(counts.sum()) + n_extra
    meta = {
        "extra_count": n_extra,
        "extra_shards": [str(p) for p in extra_shards],
        "subset_file": str(subset_path),
        "processed_count": processed,
        "output_count": writer.total,
        "expected_count": expected,
        "output_shard_count": writer.shard,
        "shard_size": shard_size,
        "shuffle_bufsize": shuffle_buffer,
        "seed": seed,
        "seconds": round(time.time() - t0, 2),
    }
    if writer.total != expected:
        raise fileio.ContractError(
            f"{subset_path}: resharded {writer.total} samples but the subset asks for {expected}; "
            "some selected samples are missing from the shards"
        )
    pairs = uidcodec.uids_to_pairs(subset.column("uid"))
    order = np.argsort(pairs, order=("f0", "f1"), kind="stable")
    np.save(tmp / "sample_ids.npy", np.repeat(pairs[order], counts[order]))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return meta


class _ExtraStream:
    """Samples of extra shards, each assigned a seeded uniform position among ``n_main`` stream items."""

    def __init__(self, samples: list, positions: np.ndarray):
        self.samples, self.positions, self.i = samples, positions, 0
        self.total = len(samples)

    def before(self, emitted: int | None):
        """Yield the extra samples due before main item number ``emitted`` (all remaining if None)."""
        while self.i < self.total and (emitted is None or self.positions[self.i] <= emitted):
            yield self.samples[self.i]
            self.i += 1


def _extra_stream(extra_shards: Sequence[str | os.PathLike], n_main: int, rng: np.random.Generator) -> _ExtraStream:
    samples = []
    for path in extra_shards:
        tag = Path(path).parent.name
        for key, files in _iter_samples(Path(path)):
            if "jpg" not in files or "txt" not in files:
                raise fileio.ContractError(f"{path}: extra sample {key} lacks a jpg or txt member")
            samples.append((f"extra-{tag}-{Path(path).stem}-{key}", {"jpg": files["jpg"], "txt": files["txt"]}))
    positions = np.sort(rng.integers(0, n_main + 1, size=len(samples))) if samples else np.zeros(0, np.int64)
    return _ExtraStream(samples, positions)


class _ShardWriter:
    def __init__(self, out_dir: Path, shard_size: int):
        self.out_dir, self.shard_size = out_dir, int(shard_size)
        self.shard, self.in_shard, self.total = 0, 0, 0
        self.sink = None

    def write(self, key: str, files: dict) -> None:
        """Append one sample: its members ``key.ext`` in sorted ``ext`` order, as webdataset's
        ``TarWriter(mtime=0)`` writes them, byte for byte (mode 0444, owner ``bigdata``, tarfile's
        default format). Written with ``tarfile`` itself: importing webdataset imports torch where
        it is installed, two seconds of CPU for every job that reshards."""
        if self.sink is None:
            # an integer mtime keeps tarfile from adding a PAX header to every member, which made
            # open_clip_train's loader spend a quarter of its time parsing headers; it also makes
            # the shards byte-reproducible
            self.sink = tarfile.open(self.out_dir / f"{self.shard:08d}.tar", "w")
        for ext in sorted(files):
            data = files[ext]
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size, info.mtime, info.mode, info.uname, info.gname = len(data), 0, 0o444, "bigdata", "bigdata"
            self.sink.addfile(info, BytesIO(data))
        self.in_shard += 1
        self.total += 1
        if self.in_shard >= self.shard_size:
            self._finish()

    def _finish(self):
        self.sink.close()
        stats = {"count": self.in_shard, "successes": self.in_shard}
        (self.out_dir / f"{self.shard:08d}_stats.json").write_text(json.dumps(stats))
        self.sink, self.in_shard = None, 0
        self.shard += 1

    def close(self):
        if self.sink is not None:
            self._finish()


def train_data_pattern(resharded_dir: str | os.PathLike) -> tuple[str, int]:
    """Brace pattern over the resharded tars (as DataComp's train.py builds) and their sample count."""
    d = Path(resharded_dir)
    meta = json.loads((d / "meta.json").read_text())
    n = meta["output_shard_count"]
    return f"{d}/{{{0:08d}..{n - 1:08d}}}.tar", meta["output_count"]


def extra_shards(dirs) -> list[Path]:
    """The shard files of the folders a recipe adds to its training set (``extra_reference``)."""
    out = []
    for d in dirs:
        shards = sorted(Path(d).glob("*.tar"))
        if not shards:
            raise fileio.ContractError(f"{d}: extra_reference folder holds no webdataset shards (*.tar)")
        out += shards
    return out
