"""The ``Images`` input of a score method: the pool's images and captions of the rows being scored,
read from the webdataset shards on demand, for methods that run a model on the images themselves
rather than on stored embeddings (BLIP's ITM at real scale); and the ``ReferenceImages`` input: a
reference set's images and captions (:class:`ReferenceImages`), for a method whose fit embeds a
sample of the set with its own model (HYPE's released checkpoint, ``hype_checkpoint``).

A chunk-level job gets a :class:`ChunkImages`; ``batches(size)`` yields ``(start, images, captions)``
in the rows' order, each shard's tar read once. A sample whose bytes do not decode is ``None`` (the
method decides its score, as the embedding stage gives such a sample a zero vector), logged with its
shard and key; a sample missing from its shard is an error naming both.
"""

from __future__ import annotations

import logging
import os
import tarfile
from pathlib import Path
from typing import Iterator

from clipcurate.core import fileio

log = logging.getLogger(__name__)


class ChunkImages:
    """The images and captions of ``rows`` (:class:`clipcurate.scores.runner.Rows`) from ``shards_dir``."""

    def __init__(self, shards_dir, rows):
        self.shards_dir = shards_dir
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def samples(self) -> Iterator[tuple]:
        """``(image or None, caption)`` per row, in the rows' order."""
        from clipcurate.embed.encode import decode_image
        from clipcurate.pool.download import shard_path
        from clipcurate.pool.reshard import _iter_samples

        shards = self.rows.table.column("shard").to_pylist()
        keys = self.rows.table.column("key").to_pylist()
        lo = 0
        while lo < len(shards):
            hi = lo
            while hi < len(shards) and shards[hi] == shards[lo]:
                hi += 1
            path = shard_path(self.shards_dir, shards[lo])
            wanted = set(keys[lo:hi])
            found = {}
            for key, files in _iter_samples(path):
                if key in wanted:
                    found[key] = files
            for key in keys[lo:hi]:
                files = found.get(key)
                if files is None or files.get("jpg") is None:
                    raise fileio.ContractError(f"{path}: sample {key} is in the pool index but has no jpg in the shard; "
                                               "rerun the download and the pool index")
                yield decode_image(files["jpg"], f"{path}:{key}"), files.get("txt", b"").decode("utf-8", "replace")
            lo = hi

    def batches(self, size: int) -> Iterator[tuple[int, list, list]]:
        """``(start row, images, captions)`` in batches of ``size`` rows."""
        start, images, texts = 0, [], []
        for image, text in self.samples():
            images.append(image)
            texts.append(text)
            if len(images) == size:
                yield start, images, texts
                start, images, texts = start + size, [], []
        if images:
            yield start, images, texts


#: The image members a reference sample may carry, in the order the embedding stage prefers them
#: (:func:`clipcurate.embed.encode.iter_reference_samples`).
IMAGE_EXTS = ("jpg", "png", "jpeg", "webp")


class ReferenceImages:
    """A reference set's images and captions (its webdataset shards in ``set_dir``), in the order the
    embedding stage embeds them (shards sorted by name, samples in tar order), so that row ``r`` here is
    row ``r`` of ``results/reference_embeddings/<model>/<set>.parquet``.

    ``len()`` counts the samples from the tars' headers (no image is read: ImageNet-1k train is
    1.28M samples); :meth:`samples` reads only the shards that hold the requested rows.
    """

    def __init__(self, set_dir):
        self.set_dir = Path(set_dir)
        self._counts: list[tuple[Path, int]] | None = None

    def shards(self) -> list[Path]:
        shards = sorted(self.set_dir.glob("*.tar"))
        if not shards:
            raise fileio.ContractError(f"{self.set_dir}: no .tar shards in the reference set")
        return shards

    def counts(self) -> list[tuple[Path, int]]:
        """``(shard, number of samples)`` per shard: distinct consecutive keys, from the tar headers."""
        if self._counts is None:
            out = []
            for shard in self.shards():
                fileio.check_complete_tar(shard)
                n, current = 0, None
                try:
                    with tarfile.open(shard) as tf:
                        for member in tf:
                            if member.isfile():
                                key = os.path.basename(member.name).partition(".")[0]
                                n, current = n + (key != current), key
                except (tarfile.TarError, EOFError, OSError) as e:
                    raise fileio.ContractError(f"{shard}: reference shard is truncated or corrupt ({type(e).__name__}: {e})") from e
                out.append((shard, n))
            self._counts = out
        return self._counts

    def __len__(self) -> int:
        return sum(n for _, n in self.counts())

    def samples(self, rows) -> Iterator[tuple[int, object, str]]:
        """``(row, image or None, caption)`` for the sorted, distinct set rows ``rows``; an image that does
        not decode is None (logged with its shard and key), a sample without an image is an error."""
        from clipcurate.embed.encode import decode_image
        from clipcurate.pool.reshard import _iter_samples

        rows = [int(r) for r in rows]
        if any(b <= a for a, b in zip(rows, rows[1:])) or (rows and (rows[0] < 0 or rows[-1] >= len(self))):
            raise ValueError(f"{self.set_dir}: rows must be sorted, distinct and in [0, {len(self)}), got {rows[:5]} ...")
        wanted, start = 0, 0
        for shard, n in self.counts():
            if wanted == len(rows):
                return
            if rows[wanted] >= start + n:
                start += n
                continue
            for pos, (key, files) in enumerate(_iter_samples(shard)):
                if wanted < len(rows) and rows[wanted] == start + pos:
                    img = next((files[e] for e in IMAGE_EXTS if files.get(e) is not None), None)
                    if img is None:
                        raise fileio.ContractError(f"{shard}: sample {key} has no image ({'/'.join(IMAGE_EXTS)})")
                    caption = (files.get("txt") or b"").decode("utf-8", "replace")
                    yield rows[wanted], decode_image(img, f"{shard}: sample {key}"), caption
                    wanted += 1
            start += n

    def batches(self, rows, size: int) -> Iterator[tuple[list, list, list]]:
        """``(rows, images, captions)`` of the requested rows in batches of ``size``."""
        batch: tuple[list, list, list] = ([], [], [])
        for row, image, text in self.samples(rows):
            for part, v in zip(batch, (row, image, text)):
                part.append(v)
            if len(batch[0]) == size:
                yield batch
                batch = ([], [], [])
        if batch[0]:
            yield batch
