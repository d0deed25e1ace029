import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pyarrow as pa
import pytest

from clipcurate.core import fileio, uidcodec


@pytest.fixture
def make_index(tmp_path):
    """Write a pool index with the given uids; return its path."""

    def _make(uids, name="index.parquet"):
        uids = pa.array(uids, pa.string())
        path = tmp_path / name
        fileio.write_table(
            pa.table({"uid": uids, "shard": pa.array([0] * len(uids), pa.int32()),
                      "key": pa.array([f"{i:09d}" for i in range(len(uids))]),
                      "chunk": pa.array([0] * len(uids), pa.int32())}),
            path, fingerprint=uidcodec.uid_fingerprint(uids),
        )
        return path

    return _make


def hex_uid(i: int) -> str:
    return f"{i:032x}"


def pytest_configure(config):
    from tests.required import required

    required()  # an unknown name in $CLIPCURATE_REQUIRE stops the run before any test


@pytest.fixture(autouse=True)
def _missing_components(request):
    """Skip a test marked by :func:`tests.required.needs` whose component is missing, or fail it
    where ``$CLIPCURATE_REQUIRE`` lists the component (CI as root on Debian)."""
    from tests.required import MARKER, skip_or_fail

    for mark in request.node.iter_markers(MARKER):
        skip_or_fail(mark.args[0], mark.kwargs["reason"])


@pytest.fixture
def drawn(monkeypatch):
    """Figures saved during the test, in order, as (Figure, path) (see tests/figures.py)."""
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def record(self, fname, *args, **kwargs):
        saved.append((self, fname))
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved
