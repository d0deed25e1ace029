"""The evaluation suite reaches rules as its content (a param without any path): load_suite takes
that content and validates it exactly as it validates the file."""

from pathlib import Path

import pytest
import yaml

from clipcurate.evaluate.run import SuiteError, load_suite

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("suite", ["tiny", "datacomp38"])
def test_content_and_file_give_the_same_suite(suite):
    path = REPO / "config" / "tasks" / f"{suite}.yaml"
    assert load_suite(yaml.safe_load(path.read_text())) == load_suite(path)


def test_bad_content_is_refused_like_a_bad_file():
    content = yaml.safe_load((REPO / "config/tasks/tiny.yaml").read_text())
    content["tasks"].append(dict(content["tasks"][0]))
    with pytest.raises(SuiteError, match="evaluation suite: task key .* appears twice"):
        load_suite(content)
