"""Running registered score methods: per chunk, gathering chunks, or over the whole pool."""

from __future__ import annotations

from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from clipcurate import io
from clipcurate.embed import read_embeddings
from clipcurate.progress import progress
from clipcurate.scores import get


def score_chunk(method: str, params: Mapping, embeddings_path, out_path, files: Mapping | None = None) -> int:
    """Apply a chunk-level method to one chunk's embeddings; write uid + its output columns.

    ``files`` maps parameter names to input files the rule tracked (e.g. a trained head); they
    reach the method as parameters.
    """
    m = get(method)
    emb = read_embeddings(embeddings_path)
    cols = m.func(emb, {**m.defaults, **params, **(files or {})})
    io.write_scores(out_path, emb["uid"], cols, fingerprint=None)
    return len(emb["uid"])


def gather(chunk_paths: Sequence, index_path, out_path) -> int:
    """Concatenate per-chunk score files in chunk order into one pool-wide, index-aligned file."""
    table = pa.concat_tables(pq.read_table(p) for p in progress(chunk_paths, desc="gather score chunks", unit="chunks"))
    ref = io.read_index(index_path, columns=["uid"]).column("uid")
    io.check_uid_order(out_path, table.column("uid"), ref)
    io.write_table(table.replace_schema_metadata(None), out_path, fingerprint=io.index_fingerprint(index_path))
    return table.num_rows


def score_pool(method: str, params: Mapping, index_path, out_path, inputs: Mapping) -> int:
    """Apply a pool-level method; ``inputs`` maps input kinds (e.g. 'truth') to loaded objects."""
    m = get(method)
    uids = io.read_index(index_path, columns=["uid"]).column("uid")
    cols = m.func(uids, *(inputs[k] for k in m.inputs), {**m.defaults, **params})
    io.write_scores(out_path, uids, cols, fingerprint=io.index_fingerprint(index_path))
    return len(uids)
