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

The checks are vectorised (``pyarrow.compute``, numpy on the string buffers) and run batch by batch
(:func:`check_file`), so memory does not grow with the file; captions and URLs are cleared from the
schema and the row-group statistics without reading them. ``benchmarks/bench_metadata_check.py``
measures the rate.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clipcurate.core import fileio

BATCH_ROWS = 1 << 20
_LOWER_HEX = b"0123456789abcdef"
#: column -> ((length, allowed characters) every value must have, or None for any string; what is
#: expected; whether null is allowed)
STRING_COLUMNS = {
    "uid": ((32, _LOWER_HEX + b"ABCDEF"), "32 hex characters (DataComp's uid)", False),
    "url": (None, "a URL string", False),
    "text": (None, "a caption string (or null)", True),
    "sha256": ((64, _LOWER_HEX), "64 lowercase hex characters (a SHA-256 digest, as img2dataset's verify_hash compares it)", True),
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


def _first_bad_fixed(col: pa.Array, length: int, chars: bytes) -> int | None:
    """First row of a string array whose value is not ``length`` characters of ``chars`` (nulls
    pass), or None. Works on the array's offsets and bytes (a regular expression is ~10x slower)."""
    if col.null_count:
        col = pc.fill_null(col, chars[:1].decode() * length)
    if pa.types.is_null(col.type) or len(col) == 0:
        return None
    wide = pa.types.is_large_string(col.type)
    offsets = np.frombuffer(col.buffers()[1], np.int64 if wide else np.int32)[col.offset : col.offset + len(col) + 1]
    bad_len = np.flatnonzero(np.diff(offsets) != length)
    allowed = np.zeros(256, bool)
    allowed[np.frombuffer(chars, np.uint8)] = True
    data = np.frombuffer(col.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    # bytes.translate deletes the allowed characters at memory speed: anything left is a bad byte,
    # located (a slower pass) only then
    clean = not data.tobytes().translate(None, chars)
    bad_char = np.empty(0, np.int64) if clean else np.flatnonzero(~allowed[data])
    rows = []
    if bad_len.size:
        rows.append(int(bad_len[0]))
    if bad_char.size:
        rows.append(int(np.searchsorted(offsets, offsets[0] + bad_char[0], side="right") - 1))
    return min(rows) if rows else None


def _check_string(path, name: str, col: pa.Array, offset: int) -> None:
    form, expected, nullable = STRING_COLUMNS[name]
    if not _is_string(col.type):
        raise fileio.ContractError(f"{path}: column {name!r} has type {col.type}; expected {expected}")
    if not nullable and col.null_count:
        row = _first(pc.is_null(col))
        raise fileio.ContractError(f"{path}: row {offset + row}, column {name!r}: missing (null); expected {expected}")
    if form is not None:
        row = _first_bad_fixed(col, *form)
        if row is not None:
            raise fileio.ContractError(f"{path}: row {offset + row}, column {name!r}: {col[row].as_py()!r}; expected {expected}")


def _check_boxes(path, name: str, col: pa.Array, offset: int) -> None:
    t = col.type
    if not (_is_list(t) and _is_list(t.value_type)
            and (pa.types.is_floating(t.value_type.value_type) or pa.types.is_integer(t.value_type.value_type))):
        raise fileio.ContractError(f"{path}: column {name!r} has type {t}; expected {BOX} (list<list<double>>)")

    def fail(row: int, what: str):
        raise fileio.ContractError(f"{path}: row {offset + row}, column {name!r}: {what}; expected {BOX}")

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


def _unread_columns_ok(pf, path, names: Sequence[str]) -> list[str]:
    """Of the columns whose values are only checked for type and nulls (``url``, ``text``), those the
    schema and the row groups' statistics already clear: their values need not be read."""
    cleared = []
    for name in names:
        form, expected, nullable = STRING_COLUMNS[name]
        if form is not None:
            continue
        typ = pf.schema_arrow.field(name).type
        if not _is_string(typ):
            raise fileio.ContractError(f"{path}: column {name!r} has type {typ}; expected {expected}")
        if nullable:
            cleared.append(name)
            continue
        i = pf.schema_arrow.get_field_index(name)
        stats = [pf.metadata.row_group(g).column(i).statistics for g in range(pf.metadata.num_row_groups)]
        if all(st is not None and st.has_null_count and st.null_count == 0 for st in stats):
            cleared.append(name)
    return cleared


def check_file(path: str | os.PathLike, columns: Sequence[str], bbox_col: str | None = None) -> int:
    """Check ``columns`` of one metadata parquet, batch by batch; returns its row count.

    Captions and URLs (most of a metadata file's bytes) are checked from the schema and the row-group
    statistics (type, no null URL) and read only when the statistics cannot clear them."""
    pf = fileio.open_parquet(path, "metadata parquet")
    missing = [c for c in columns if c not in pf.schema_arrow.names]
    if missing:
        raise fileio.ContractError(f"{path}: metadata parquet lacks column(s) {missing}; it has {pf.schema_arrow.names}")
    cleared = _unread_columns_ok(pf, path, [c for c in columns if c in STRING_COLUMNS])
    read = [c for c in columns if c not in cleared]
    if not read:
        return pf.metadata.num_rows
    offset = 0
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=read):
        check_table(path, batch, bbox_col, offset)
        offset += batch.num_rows
    return offset
