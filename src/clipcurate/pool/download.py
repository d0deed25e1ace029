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
import json
import logging
import os
import re
import shutil
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clipcurate.core import fileio, uidcodec
from clipcurate.pool import metadata_check

log = logging.getLogger(__name__)

SHARD_DIGITS = 8  # DataComp's oom_shard_count: shard names are {:08d}.tar


# --------------------------------------------------------------------------------------------
# a static HTTP server on the loopback interface


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        pass


class _HookedHandler(_QuietHandler):
    """Calls ``hook(path)`` before answering a GET (tests record or hold requests with it)."""

    hook = None

    def do_GET(self):  # noqa: N802 - name fixed by the base class
        type(self).hook(self.path)
        super().do_GET()


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
def serve_directory(
    root: str | os.PathLike, port: int, host: str = "127.0.0.1", on_request: Callable[[str], None] | None = None
) -> Iterator[str]:
    """Serve ``root`` over HTTP on ``host:port`` for the duration of the block; yield the base URL.

    ``on_request(path)`` runs in the server thread before each GET is answered: the DataComp-layout
    workflow test counts requests with it (which URLs a resumed download fetches again) and holds
    some of them back to interrupt a download at a known point.
    """
    if on_request is None:
        handler = functools.partial(_QuietHandler, directory=str(root))
    else:
        cls = type("_Handler", (_HookedHandler,), {"hook": staticmethod(on_request)})
        handler = functools.partial(cls, directory=str(root))
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


#: written into the partial download folder: what the shards there were downloaded from and with.
#: Not a ``.json`` name, because img2dataset reads every ``*.json`` of its output folder as a shard's
#: stats file.
RESUME_STAMP = "_clipcurate_download.stamp"
#: parameters that change what a finished shard holds: a partial download made with other values
#: (or from other metadata files) is started afresh instead of resumed
_STAMPED_KEYS = ("samples_per_shard", "image_size", "resize_mode", "resize_only_if_bigger", "bbox_col",
                 "encode_quality", "verify_sha256")


def partial_dir(shards_dir: str | os.PathLike) -> Path:
    """Where img2dataset writes until the download is complete (a sibling of the shards folder)."""
    shards_dir = Path(shards_dir)
    return shards_dir.with_name(shards_dir.name + ".partial")


def check_metadata_columns(files: list[Path], columns: list[str]) -> None:
    """Every metadata parquet has ``columns`` (read from the footers only); the error names the file."""
    for f in files:
        try:
            names = pq.read_schema(f).names
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a bad footer
            raise fileio.ContractError(f"{f}: not a readable parquet file ({e})") from e
        missing = [c for c in columns if c not in names]
        if missing:
            raise fileio.ContractError(f"{f}: metadata parquet lacks column(s) {missing}; it has {names}")


def _resume_stamp(files: list[Path], cfg: Mapping) -> str:
    stamped = {k: cfg.get(k) for k in _STAMPED_KEYS}
    return json.dumps({"params": stamped, "metadata": [[f.name, f.stat().st_size] for f in files]}, sort_keys=True)


def finished_shards(folder: str | os.PathLike) -> list[int]:
    """Shards img2dataset has finished in ``folder``: those with a ``{:08d}_stats.json``, which it
    writes after the shard's tar and parquet are closed (its incremental mode skips exactly these)."""
    return sorted(int(p.name.split("_")[0]) for p in Path(folder).glob("*_stats.json")
                  if re.fullmatch(r"\d{%d}_stats\.json" % SHARD_DIGITS, p.name))


def prepare_partial(tmp_dir: Path, stamp: str) -> list[int]:
    """Keep a partial download made from the same metadata with the same parameters (returns its
    finished shards, which img2dataset then skips); otherwise start an empty folder."""
    stamp_file = tmp_dir / RESUME_STAMP
    if tmp_dir.exists():
        if stamp_file.exists() and stamp_file.read_text() == stamp:
            done = finished_shards(tmp_dir)
            log.info("%s: resuming an interrupted download; %d shard(s) already finished", tmp_dir, len(done))
            return done
        log.info("%s: a partial download from other metadata or parameters; starting again", tmp_dir)
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir(parents=True)
    stamp_file.write_text(stamp)
    return []


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
    DataComp blurs the faces its metadata boxes in ``face_bboxes`` at download time) and
    ``verify_sha256``: img2dataset's own hash check (``verify_hash``) compares each downloaded
    image's bytes with the metadata's ``sha256`` column and records a mismatch as a failed sample
    ("hash mismatch"), counted in the report. With ``serve_root`` set, a loopback HTTP server serves
    that directory while img2dataset runs.

    The shards are written to ``<shards_dir>.partial`` and renamed into place when complete, so an
    interrupted download never looks complete. An interrupted download resumes: the partial folder
    is kept when it was started from the same metadata files with the same parameters, and
    img2dataset's incremental mode skips the shards it finished (see :func:`finished_shards`).
    Returns the download report (see :func:`download_report`).
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from img2dataset import download

    shards_dir = Path(shards_dir)
    tmp_dir = partial_dir(shards_dir)
    metadata_dir = Path(metadata_dir)
    files = sorted(metadata_dir.glob("*.parquet"))
    if not files:
        raise fileio.ContractError(f"{metadata_dir}: no metadata parquet files to download")
    verify = bool(cfg.get("verify_sha256", False))
    needed = ["uid", "url", "text"] + (["sha256"] if verify else []) + ([cfg["bbox_col"]] if cfg.get("bbox_col") else [])
    check_metadata_columns(files, needed)
    stamp = _resume_stamp(files, cfg)
    stamp_file = tmp_dir / RESUME_STAMP
    if not (stamp_file.exists() and stamp_file.read_text() == stamp):  # a resumed download checked them
        for f in files:  # values img2dataset would silently turn into failed samples (clipcurate.pool.metadata_check)
            metadata_check.check_file(f, needed, bbox_col=cfg.get("bbox_col"))
    resumed = prepare_partial(tmp_dir, stamp)

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
            verify_hash=["sha256", "sha256"] if verify else None,
            incremental_mode="incremental",
            distributor="multiprocessing",
        )
    report = download_report(tmp_dir)
    report["resumed_shards"] = len(resumed)
    report["sha256_verified"] = verify
    (tmp_dir / RESUME_STAMP).unlink()
    if shards_dir.exists():
        shutil.rmtree(shards_dir)
    os.replace(tmp_dir, shards_dir)
    return report


_ERROR_CLASSES = [
    ("hash_mismatch", re.compile(r"^hash mismatch$")),  # img2dataset's verify_hash
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
        "hash_mismatch": kinds.get("hash_mismatch", 0),
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
        raise fileio.ContractError(f"{shards_dir}: no shard parquet files; did the download run?")
    table = pa.concat_tables(parts).sort_by([("shard", "ascending"), ("key", "ascending")])
    uids = table.column("uid")
    if len(pc.unique(uids)) != len(uids):
        raise fileio.ContractError(f"{shards_dir}: the downloaded shards contain duplicate uids")
    return table


def write_index(table: pa.Table, path: str | os.PathLike) -> None:
    fileio.write_table(table, path, fingerprint=uidcodec.uid_fingerprint(table.column("uid")))


def shard_path(shards_dir: str | os.PathLike, shard: int) -> Path:
    return Path(shards_dir) / f"{shard:0{SHARD_DIGITS}d}.tar"


def shard_paths(shards_dir: str | os.PathLike) -> list[Path]:
    """The pool's webdataset shards, in shard order."""
    shards_dir = Path(shards_dir)
    paths = sorted(p for p in shards_dir.glob("*.tar") if re.fullmatch(r"\d{%d}\.tar" % SHARD_DIGITS, p.name))
    if not paths:
        raise fileio.ContractError(f"{shards_dir}: no pool shards (*.tar); did the download run?")
    return paths
