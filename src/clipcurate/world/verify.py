"""Checks that a generated world on disk is complete and unmodified (``verify_world``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = "world.json"


class WorldError(ValueError):
    """A world is misconfigured, incomplete or corrupt; the message names the file and what was expected."""


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def load_manifest(out_dir: str | Path) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        raise WorldError(f"{path}: missing; the world was not generated or its generation did not finish")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WorldError(f"{path}: unreadable manifest ({e}); regenerate the world") from e
    for key in ("files", "absent", "pool", "reference", "eval_tasks"):
        if key not in manifest:
            raise WorldError(f"{path}: manifest has no {key!r} entry; regenerate the world")
    return manifest


def verify_world(out_dir: str | Path, check_hashes: bool = True, max_report: int = 10) -> dict:
    """Check every file listed in ``world.json`` for presence, size and (optionally) sha256.

    Also checks that the files of 404 URLs are absent. Returns the manifest; raises ``WorldError``
    naming each missing, resized or corrupt file (up to ``max_report`` of them, plus a count).
    """
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    problems: list[str] = []
    for rel, entry in sorted(manifest["files"].items()):
        path = out_dir / rel
        size, digest = int(entry["size"]), entry["sha256"]
        if not path.is_file():
            problems.append(f"{path}: missing (expected {size} bytes with sha256 {digest})")
            continue
        actual = path.stat().st_size
        if actual != size:
            problems.append(f"{path}: corrupt: {actual} bytes, expected {size} bytes (sha256 {digest})")
            continue
        if check_hashes:
            got = sha256_file(path)
            if got != digest:
                problems.append(f"{path}: corrupt: sha256 is {got}, expected {digest}")
    for rel in manifest["absent"]:
        path = out_dir / rel
        if path.exists():
            problems.append(f"{path}: exists but must be absent (its URL is a 404 of the world)")
    if problems:
        head = "; ".join(problems[:max_report])
        more = f" (and {len(problems) - max_report} more)" if len(problems) > max_report else ""
        raise WorldError(f"{out_dir}: world does not match {MANIFEST}: {head}{more}")
    return manifest
