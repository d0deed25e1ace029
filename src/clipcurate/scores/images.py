"""The ``Images`` input of a score method: the pool's images and captions of the rows being scored,
read from the webdataset shards on demand, for methods that run a model on the images themselves
rather than on stored embeddings (BLIP's ITM at real scale).

A chunk-level job gets a :class:`ChunkImages`; ``batches(size)`` yields ``(start, images, captions)``
in the rows' order, each shard's tar read once. A sample whose bytes do not decode is ``None`` (the
method decides its score, as the embedding stage gives such a sample a zero vector), logged with its
shard and key; a sample missing from its shard is an error naming both.
"""

from __future__ import annotations

import logging
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
