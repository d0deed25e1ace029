"""The resharder's shard writer (tarfile) writes what webdataset's TarWriter(mtime=0) writes, byte
for byte, and does not import webdataset (which imports torch where it is installed)."""

import subprocess
import sys
from pathlib import Path

import webdataset as wds

from clipcurate.pool.reshard import _ShardWriter

SRC = Path(__file__).resolve().parents[2] / "src"


def test_shards_are_webdatasets_bytes(tmp_path):
    samples = [(f"{i:032x}-{i % 3}", {"txt": f"caption {i}".encode(), "jpg": bytes([i % 251]) * (37 * i + 1),
                                      "json": b'{"uid": "%d"}' % i}) for i in range(25)]
    (tmp_path / "ours").mkdir()
    writer = _ShardWriter(tmp_path / "ours", shard_size=10)
    for key, files in samples:
        writer.write(key, files)
    writer.close()
    ours = sorted((tmp_path / "ours").glob("*.tar"))
    assert [p.name for p in ours] == ["00000000.tar", "00000001.tar", "00000002.tar"]
    for k, path in enumerate(ours):
        ref = tmp_path / f"ref{k}.tar"
        with wds.TarWriter(str(ref), mtime=0) as w:
            for key, files in samples[10 * k : 10 * (k + 1)]:
                w.write({"__key__": key, **files})
        assert path.read_bytes() == ref.read_bytes(), path.name


def test_reshard_imports_no_webdataset():
    code = "import sys, clipcurate.pool.reshard, clipcurate.train.dfn; print(sorted(m for m in ('webdataset', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(SRC)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
