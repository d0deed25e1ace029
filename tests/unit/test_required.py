"""tests/required.py: a missing WordNet, Slurm or Chromium skips its tests, visibly, except where
``$CLIPCURATE_REQUIRE`` (set by .ci/run as root on Debian) lists it: then those tests fail."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.required import ENV, FEATURES, needs, required, skip_or_fail

REPO = Path(__file__).resolve().parents[2]


def test_a_missing_component_skips_unless_required():
    with pytest.raises(pytest.skip.Exception, match="no WordNet here"):
        skip_or_fail("wordnet", "no WordNet here", environ={})
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("wordnet", "no WordNet here", environ={ENV: "slurm,chromium"})
    with pytest.raises(pytest.fail.Exception, match=rf"wordnet is required here \({ENV} lists it\) but missing: no WordNet here"):
        skip_or_fail("wordnet", "no WordNet here", environ={ENV: "slurm, wordnet"})


def test_the_variable_names_only_known_components():
    assert required({ENV: "wordnet,slurm,chromium"}) == set(FEATURES) == {"wordnet", "slurm", "chromium"}
    assert required({}) == set() and required({ENV: ""}) == set()
    with pytest.raises(pytest.UsageError, match=r"unknown component\(s\) \['wordnett'\]; known: wordnet, slurm, chromium"):
        required({ENV: "wordnett"})
    with pytest.raises(ValueError, match="unknown component 'gpu'"):
        needs("gpu", False, "no GPU")


PROBE = '''
from tests.required import needs

@needs("wordnet", False, "probe: no WordNet")
def test_needs_wordnet():
    pass

@needs("slurm", True, "probe: Slurm is there")
def test_has_slurm():
    pass
'''


def _pytest(tmp_path, env_value):
    """Run pytest on PROBE (outside the repository) with this checkout's config and conftest."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != ENV}
    if env_value is not None:
        env[ENV] = env_value
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
                           "-p", "tests.conftest", "-p", "no:cacheprovider", str(probe)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_the_conftest_fixture_skips_visibly_or_fails_a_required_component(tmp_path):
    """End to end through pytest: the pyproject's addopts report the skip and its reason (-rs);
    with the component required, the same test errors and the run fails."""
    free = _pytest(tmp_path, None)
    assert free.returncode == 0, free.stdout + free.stderr
    assert "1 passed, 1 skipped" in free.stdout and "SKIPPED [1]" in free.stdout and "probe: no WordNet" in free.stdout
    ci = _pytest(tmp_path, "wordnet,slurm,chromium")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "1 passed, 1 error" in ci.stdout and "wordnet is required here" in ci.stdout
    bad = _pytest(tmp_path, "wordnett")
    assert bad.returncode != 0 and "unknown component(s) ['wordnett']" in bad.stdout + bad.stderr


def test_ci_requires_the_components_it_installs():
    """.ci/run exports the variable in the branch where it installs them (root on Debian), and the
    Makefile's test target (which it runs) shows skips."""
    text = (REPO / ".ci" / "run").read_text()
    assert f"export {ENV}=wordnet,slurm,chromium" in text
    block = text[text.index("ROOT_ON_DEBIAN=1"):]
    assert block.index("ROOT_ON_DEBIAN=1") < block.index(f"export {ENV}")
    assert "-rs" in (REPO / "Makefile").read_text().split("test: setup", 1)[1].splitlines()[1]
