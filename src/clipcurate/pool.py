"""Pool stage: metadata -> img2dataset webdataset shards -> the pool index.

The download is img2dataset's own, with DataComp's conventions (8-digit shard names, the ``uid``
column saved into every sample's json). On the tiny world the images are served over HTTP from
127.0.0.1 by a server that this stage starts and stops, so the download path is the real one,
failures included. Failed URLs and undecodable images are never fatal: img2dataset records them per
shard, and :func:`download_report` counts them by kind.

The pool index lists every successfully downloaded sample once, ordered by (shard, key). That order
is canonical: every per-sample file of the workflow is row-aligned with it.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import logging
import os
import re
import shutil
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate import io

log = logging.getLogger(__name__)

SHARD_DIGITS = 8  # DataComp's oom_shard_count: shard names are {:08d}.tar


# --------------------------------------------------------------------------------------------
# a static HTTP server on the loopback interface


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free on ``host``, for a world.serve_port (tests, benchmarks)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class _WorldServer(http.server.ThreadingHTTPServer):
    # the default listen backlog (5) refuses connections when img2dataset opens many at once,
    # and those refusals would be counted as download failures the world never planned
    request_queue_size = 512
    daemon_threads = True


@contextlib.contextmanager
def serve_directory(root: str | os.PathLike, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``root`` over HTTP on ``host:port`` for the duration of the block; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    try:
        server = _WorldServer((host, port), handler)
    except OSError as e:
        raise RuntimeError(
            f"cannot serve the tiny world on {host}:{port} ({e}); set world.serve_port to a free port"
        ) from e
    thread = threading.Thread(target=server.serve_forever, name="world-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# download


def download_pool(
    metadata_dir: str | os.PathLike,
    shards_dir: str | os.PathLike,
    cfg: Mapping,
    serve_root: str | os.PathLike | None = None,
    serve_port: int | None = None,
) -> dict:
    """Download every URL of ``metadata_dir/*.parquet`` into webdataset shards with img2dataset.

    ``cfg`` holds img2dataset's parameters (processes, threads, image_size, resize_mode,
    resize_only_if_bigger, samples_per_shard, retries, timeout, encode_quality, and ``bbox_col``:
    DataComp blurs the faces its metadata boxes in ``face_bboxes`` at download time). With
    ``serve_root`` set, a loopback HTTP server serves that directory while img2dataset runs. The
    shards are written to a temporary directory and renamed into place, so an interrupted download
    never looks complete.
    Returns the download report (see :func:`download_report`).
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from img2dataset import download

    shards_dir = Path(shards_dir)
    tmp_dir = shards_dir.with_name(shards_dir.name + ".partial")
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    metadata_dir = Path(metadata_dir)
    if not sorted(metadata_dir.glob("*.parquet")):
        raise io.ContractError(f"{metadata_dir}: no metadata parquet files to download")

    server = serve_directory(serve_root, serve_port) if serve_root is not None else contextlib.nullcontext()
    with server:
        download(
            url_list=str(metadata_dir),
            input_format="parquet",
            url_col="url",
            caption_col="text",
            save_additional_columns=["uid"],
            output_format="webdataset",
            output_folder=str(tmp_dir),
            oom_shard_count=SHARD_DIGITS,
            number_sample_per_shard=int(cfg["samples_per_shard"]),
            processes_count=int(cfg["processes"]),
            thread_count=int(cfg["threads"]),
            image_size=int(cfg["image_size"]),
            resize_mode=cfg["resize_mode"],
            resize_only_if_bigger=bool(cfg.get("resize_only_if_bigger", False)),
            bbox_col=cfg.get("bbox_col"),
            encode_quality=int(cfg["encode_quality"]),
            encode_format="jpg",
            retries=int(cfg["retries"]),
            timeout=int(cfg["timeout"]),
            enable_wandb=False,
            compute_hash="sha256",
            incremental_mode="incremental",
            distributor="multiprocessing",
        )
    report = download_report(tmp_dir)
    if shards_dir.exists():
        shutil.rmtree(shards_dir)
    os.replace(tmp_dir, shards_dir)
    return report


_ERROR_CLASSES = [
    ("http_404", re.compile(r"HTTP Error 404|404")),
    ("http_error", re.compile(r"HTTP Error")),
    ("timeout", re.compile(r"timed out|timeout", re.I)),
    ("connection", re.compile(r"Connection|refused|reset", re.I)),
    ("too_large", re.compile(r"too large|MAX_IMAGE_PIXELS|exceeds|bomb", re.I)),
    ("decode_failed", re.compile(r"decod|imdecode|not an image|cannot identify|truncated|Premature", re.I)),
]


def classify_error(message: str | None) -> str:
    """Map an img2dataset error message to a failure kind for the report."""
    if not message:
        return "unknown"
    for name, pattern in _ERROR_CLASSES:
        if pattern.search(message):
            return name
    return "other"


def shard_parquets(shards_dir: str | os.PathLike) -> list[Path]:
    shards_dir = Path(shards_dir)
    return sorted(p for p in shards_dir.glob("*.parquet") if re.fullmatch(r"\d{%d}\.parquet" % SHARD_DIGITS, p.name))


def download_report(shards_dir: str | os.PathLike) -> dict:
    """Count successes and each failure kind over img2dataset's per-shard parquet files."""
    statuses: Counter = Counter()
    kinds: Counter = Counter()
    messages: Counter = Counter()
    per_shard = {}
    for p in shard_parquets(shards_dir):
        t = pq.read_table(p, columns=["status", "error_message"])
        st = t.column("status").to_pylist()
        em = t.column("error_message").to_pylist()
        ok = sum(s == "success" for s in st)
        per_shard[p.stem] = {"total": len(st), "success": ok}
        for s, m in zip(st, em):
            statuses[s] += 1
            if s != "success":
                kinds[classify_error(m)] += 1
                messages[(m or "")[:120]] += 1
    total = sum(statuses.values())
    return {
        "total": total,
        "success": statuses.get("success", 0),
        "failed": total - statuses.get("success", 0),
        "success_rate": statuses.get("success", 0) / total if total else 0.0,
        "failures_by_kind": dict(sorted(kinds.items())),
        "top_error_messages": dict(messages.most_common(20)),
        "shards": per_shard,
    }


# --------------------------------------------------------------------------------------------
# the index


def build_index(shards_dir: str | os.PathLike, chunk_shards: int) -> pa.Table:
    """One row per downloaded sample: uid, shard, key, chunk; ordered by (shard, key).

    ``chunk`` = shard // chunk_shards groups contiguous shards into the coarse jobs of the
    embedding and scoring stages (docs/architecture.md, section 1).
    """
    parts = []
    for p in shard_parquets(shards_dir):
        t = pq.read_table(p, columns=["uid", "key", "status"])
        t = t.filter(pc.equal(t.column("status"), "success"))
        shard = int(p.stem)
        parts.append(
            pa.table(
                {
                    "uid": t.column("uid").cast(pa.string()),
                    "shard": pa.array([shard] * t.num_rows, pa.int32()),
                    "key": t.column("key").cast(pa.string()),
                    "chunk": pa.array([shard // chunk_shards] * t.num_rows, pa.int32()),
                }
            )
        )
    if not parts:
        raise io.ContractError(f"{shards_dir}: no shard parquet files; did the download run?")
    table = pa.concat_tables(parts).sort_by([("shard", "ascending"), ("key", "ascending")])
    uids = table.column("uid")
    if len(pc.unique(uids)) != len(uids):
        raise io.ContractError(f"{shards_dir}: the downloaded shards contain duplicate uids")
    return table


def write_index(table: pa.Table, path: str | os.PathLike) -> None:
    io.write_table(table, path, fingerprint=io.uid_fingerprint(table.column("uid")))


def shard_path(shards_dir: str | os.PathLike, shard: int) -> Path:
    return Path(shards_dir) / f"{shard:0{SHARD_DIGITS}d}.tar"


def shard_paths(shards_dir: str | os.PathLike) -> list[Path]:
    """The pool's webdataset shards, in shard order."""
    shards_dir = Path(shards_dir)
    paths = sorted(p for p in shards_dir.glob("*.tar") if re.fullmatch(r"\d{%d}\.tar" % SHARD_DIGITS, p.name))
    if not paths:
        raise io.ContractError(f"{shards_dir}: no pool shards (*.tar); did the download run?")
    return paths
