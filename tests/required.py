"""System components some tests need, and CI's switch that makes their absence a failure.

WordNet's database (Debian's ``wordnet-base``), a Slurm cluster that answers and a headless Chromium
are not Python packages: where one is missing, the tests that need it skip, with the reason shown
in pytest's summary (``-rs`` is in the ``addopts`` of pyproject.toml). A skip must not hide a broken
install where the component is supposed to be there: ``.ci/run``, when it runs as root on Debian
(where it installs all three), sets ``CLIPCURATE_REQUIRE=wordnet,slurm,chromium``, and a test that
would skip for a component listed there fails instead.

Use :func:`needs` as a decorator (``@needs("wordnet", W.available(), "no WordNet ...")``), or
:func:`skip_or_fail` inside a test. The check runs in the autouse fixture of ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from typing import Mapping

import pytest

ENV = "CLIPCURATE_REQUIRE"
FEATURES = {
    "wordnet": "WordNet 3.0's database (Debian's wordnet-base): the text-based DataComp baseline",
    "slurm": "a Slurm cluster answering sinfo/sbatch: profiles/slurm run live",
    "chromium": "a headless Chromium (and websocket-client): the report rendered in a browser",
}
#: the marker :func:`needs` puts on a test whose component is missing
MARKER = "missing_component"


def required(environ: Mapping[str, str] | None = None) -> set[str]:
    """The components ``$CLIPCURATE_REQUIRE`` lists (comma-separated); an unknown name is an error."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    names = {n.strip() for n in value.split(",") if n.strip()}
    unknown = sorted(names - set(FEATURES))
    if unknown:
        raise pytest.UsageError(f"{ENV}={value!r}: unknown component(s) {unknown}; known: {', '.join(FEATURES)}")
    return names


def skip_or_fail(feature: str, reason: str, environ: Mapping[str, str] | None = None):
    """Skip the running test because ``feature`` is missing, or fail it where ``feature`` is required."""
    if feature not in FEATURES:
        raise ValueError(f"unknown component {feature!r}; known: {', '.join(FEATURES)}")
    if feature in required(environ):
        pytest.fail(f"{feature} is required here ({ENV} lists it) but missing: {reason}", pytrace=False)
    pytest.skip(reason)


def needs(feature: str, available: bool, reason: str) -> pytest.MarkDecorator:
    """Decorator for a test that needs ``feature``: nothing when ``available``, otherwise a mark that
    makes the conftest fixture skip it (or fail it, where CI requires the component)."""
    if feature not in FEATURES:
        raise ValueError(f"unknown component {feature!r}; known: {', '.join(FEATURES)}")
    if available:
        return pytest.mark.needs_component(feature)
    return getattr(pytest.mark, MARKER)(feature, reason=reason)
