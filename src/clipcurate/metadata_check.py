"""DataComp metadata parquet files: the types and shapes of their columns, checked when a file is read.

A malformed metadata value does not fail the download; img2dataset turns it into a wrong result
without a word: a ``sha256`` that is not a hex digest is "hash mismatch" for every such sample
(``verify_hash`` compares it with the downloaded image's ``hexdigest()``, lowercase), and a
``face_bboxes`` entry that is not a list of ``[x0, y0, x1, y1]`` boxes makes the blurrer raise, so the
sample is dropped as an "other" failure. So the columns a step uses are checked before it starts, and
an error names the file, the row (0-based, in the file) and the column, and says what was expected:

* ``uid``: strings of 32 hex characters, none missing (DataComp's 128-bit uid);
* ``url``: strings, none missing;
* ``text``: strings (a missing caption is allowed);
* ``sha256``: strings of 64 lowercase hex characters (a SHA-256 digest), or null where no hash is
  known (the tiny world's URLs that serve no image);
* the face box column (``download.bbox_col``, DataComp's ``face_bboxes``): for each row a list
  (empty without faces, never missing) of boxes, each a list of four finite numbers.

The checks are vectorised with ``pyarrow.compute`` and run batch by batch (:func:`check_file`), so a
file of millions of rows costs seconds and bounded memory.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clipcurate import io

BATCH_ROWS = 1 << 20
#: column -> (regular expression every value must match, what is expected); None: any string
STRING_COLUMNS = {
    "uid": (r"^[0-9a-fA-F]{32}$", "32 hex characters (DataComp's uid)", False),
    "url": (None, "a URL string", False),
    "text": (None, "a caption string (or null)", True),
    "sha256": (r"^[0-9a-f]{64}$", "64 lowercase hex characters (a SHA-256 digest, as img2dataset's verify_hash compares it)", True),
}
BOX = "a list of boxes (empty when the image has no face), each a list of four numbers [x0, y0, x1, y1]"


def _first(mask) -> int | None:
    """Index of the first true (non-null) value of a boolean array, or None."""
    mask = pc.fill_null(mask, True)
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _check_string(path, name: str, col: pa.Array, offset: int) -> None:
    pattern, expected, nullable = STRING_COLUMNS[name]
    if not _is_string(col.type):
        raise io.ContractError(f"{path}: column {name!r} has type {col.type}; expected {expected}")
    if not nullable and col.null_count:
        row = _first(pc.is_null(col))
        raise io.ContractError(f"{path}: row {offset + row}, column {name!r}: missing (null); expected {expected}")
    if pattern is not None:
        row = _first(pc.fill_null(pc.invert(pc.match_substring_regex(col, pattern)), False))  # nulls: checked above
        if row is not None:
            raise io.ContractError(f"{path}: row {offset + row}, column {name!r}: {col[row].as_py()!r}; expected {expected}")


def _check_boxes(path, name: str, col: pa.Array, offset: int) -> None:
    t = col.type
    if not (_is_list(t) and _is_list(t.value_type)
            and (pa.types.is_floating(t.value_type.value_type) or pa.types.is_integer(t.value_type.value_type))):
        raise io.ContractError(f"{path}: column {name!r} has type {t}; expected {BOX} (list<list<double>>)")

    def fail(row: int, what: str):
        raise io.ContractError(f"{path}: row {offset + row}, column {name!r}: {what}; expected {BOX}")

    row = _first(pc.is_null(col))
    if row is not None:
        fail(row, "missing (null)")
    boxes = pc.list_flatten(col)
    box_row = pc.list_parent_indices(col).to_numpy()
    if len(boxes):
        bad = pc.or_(pc.is_null(boxes), pc.not_equal(pc.list_value_length(boxes), 4))
        k = _first(bad)
        if k is not None:
            fail(int(box_row[k]), f"box {boxes[k].as_py()!r}")
        values = pc.list_flatten(boxes)
        finite = np.isfinite(values.to_numpy(zero_copy_only=False).astype(np.float64))
        if values.null_count or not finite.all():
            v = int(np.argmin(finite & ~np.asarray(pc.is_null(values))))
            k = int(pc.list_parent_indices(boxes).to_numpy()[v])
            fail(int(box_row[k]), f"box {boxes[k].as_py()!r}")


def check_table(path, table: pa.Table | pa.RecordBatch, bbox_col: str | None = None, offset: int = 0) -> None:
    """Check the metadata columns ``table`` holds (read from ``path``, starting at row ``offset``)."""
    for name in table.schema.names:
        col = table.column(name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if name in STRING_COLUMNS:
            _check_string(path, name, col, offset)
        elif bbox_col is not None and name == bbox_col:
            _check_boxes(path, name, col, offset)


def check_file(path: str | os.PathLike, columns: Sequence[str], bbox_col: str | None = None) -> int:
    """Check ``columns`` of one metadata parquet, batch by batch; returns its row count."""
    pf = io.open_parquet(path, "metadata parquet")
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        raise io.ContractError(f"{path}: metadata parquet lacks column(s) {missing}; it has {pf.schema_arrow.names}")
    offset = 0
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=list(columns)):
        check_table(path, batch, bbox_col, offset)
        offset += batch.num_rows
    return offset
