"""Config errors stop the workflow while it is parsed: before any job starts or any output is deleted.

Each case runs Snakemake (planning only) on a bad config and checks the message names the key and
the file; the world case runs for real (not a dry run) with an earlier ``resources/world`` in place
and checks that it is still there, since Snakemake deletes a job's outputs when the job starts.
The messages themselves are tested case by case in tests/unit/test_bad_inputs.py.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def _run(workdir, override, *args):
    cfg = Path(workdir) / "bad.yaml"
    cfg.write_text(override if isinstance(override, str) else yaml.safe_dump(override))
    proc = subprocess.run([*SNAKEMAKE, *args, "--directory", str(workdir), "--configfile", str(cfg)],
                          capture_output=True, text=True)
    return proc, proc.stdout + proc.stderr, cfg


def test_bad_world_fails_at_parse_time_and_keeps_the_world(tmp_path):
    world = tmp_path / "resources" / "world"
    world.mkdir(parents=True)
    (world / "manifest.json").write_text("{}")
    proc, out, cfg = _run(tmp_path, {"world": {"kinds": {"clean": 0.9}}}, "resources/world", "--cores", "1", "--forcerun", "world")
    assert proc.returncode != 0
    assert "config: world.kinds: the fractions must sum to 1, they sum to 1.500000" in out, out[-2000:]
    assert (world / "manifest.json").read_text() == "{}"
    assert "rule world" not in out  # no job was planned, let alone started


#: bad configs and the message the workflow must print for each
CASES = [
    ({"seed": "abc"}, "config key seed (set in {cfg}): 'abc' is not of type 'integer'"),
    ({"scale": None}, "config key scale (set in {cfg}): None is not of type 'object'"),
    ({"sead": 1}, "config: unknown top-level key 'sead' (set in {cfg}); known keys: "),
    ({"recipes": {"x": {"label": "X", "score": "clip_score", "sample": {"method": "scs", "alpha": 1, "beta": 2}}}},
     "config key recipes.x.sample (set in {cfg}): key 'beta' is not allowed here; allowed keys: method, alpha, group_size, n"),
    ({"mixes": {"sum": {"params": {"w": 1}}}}, "config: mixes.sum.params: sum: unknown parameter 'w'"),
]


@pytest.mark.parametrize("override, message", CASES, ids=["seed", "scale_null", "unknown_key", "sampler_key", "mix_param"])
def test_config_errors_are_short_and_name_key_and_file(tmp_path, override, message):
    proc, out, cfg = _run(tmp_path, override, "-n")
    assert proc.returncode != 0
    assert message.format(cfg=cfg) in out, out[-2000:]
    assert len(out.splitlines()) < 40  # never the merged config (hundreds of lines)


def test_hcs_batch_size_is_accepted_by_the_workflow(tmp_path):
    """The schema and the sampler agree: an HCS recipe with batch_size plans."""
    recipe = {"recipes": {"hcs_b": {"label": "HCS", "score": "clip_score", "sample": {"method": "hcs", "beta": 4, "batch_size": 5000}}}}  # 4 * 20000 rows >= N
    proc, out, _ = _run(tmp_path, recipe, "-n", "results/subsets/hcs_b.parquet")
    assert proc.returncode == 0, out[-2000:]


def test_yaml_syntax_error_in_a_configfile_is_located_by_the_checker(tmp_path):
    """Snakemake parses --configfile before the Snakefile runs and names neither file nor line;
    the documented pre-check does."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale:\n  lr: [1, 2\n")
    proc = subprocess.run([sys.executable, "-m", "clipcurate.config.check", str(bad)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1 and proc.stderr.startswith(f"{bad}:3:1: YAML syntax error:"), proc.stderr


def _every_bad_config():
    """Every bad config the tests hold: this file's and the unit suite's (tests/unit/test_bad_inputs.py)."""
    from tests.unit.test_bad_inputs import CONFIG_CASES

    return [override for override, _ in CASES] + [override for override, _ in CONFIG_CASES]


@pytest.mark.parametrize("override", _every_bad_config(), ids=lambda o: yaml.safe_dump(o, width=1000).strip()[:60])
def test_the_checker_refuses_exactly_what_the_snakefile_refuses(tmp_path, override, capsys):
    """`python -m clipcurate.config.check FILE` and parsing the Snakefile with FILE as a configfile
    (in this process, through Snakemake's API, as `snakemake --list-rules` parses it) agree on every
    bad config, and the checker says why in one line, which is the workflow's own message."""
    from clipcurate.config import check as config_check
    from tests.workflow.plan import parse_error

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(override))
    checked = config_check.main(["--repo", str(REPO), str(cfg)])
    err = capsys.readouterr().err.strip()
    parsed = parse_error(REPO / "Snakefile", tmp_path / "work", [cfg])
    assert (checked == 0) == (parsed is None), (err, parsed)
    if checked:
        assert len(err.splitlines()) == 1 and err.startswith(("config", str(cfg))), err
        assert err in parsed, (err, parsed)


def test_the_checker_and_the_snakefile_accept_the_shipped_config(tmp_path):
    from clipcurate.config import check as config_check
    from tests.workflow.plan import parse_error

    cfg = tmp_path / "empty.yaml"
    cfg.write_text("{}\n")
    assert config_check.main(["--repo", str(REPO), str(cfg)]) == 0
    assert parse_error(REPO / "Snakefile", tmp_path / "work", [cfg]) is None
