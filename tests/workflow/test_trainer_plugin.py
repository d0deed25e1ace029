"""A new trainer is one module plus config, planned by Snakemake itself (a dry run, no data).

A copy of the workflow gets a toy text-detector trainer (src/clipcurate/train/trainers/toy_detector.py),
its script, and a score method reading the detector (src/clipcurate/scores/methods/toy_detector.py);
nothing else is edited. The rule rules/models.smk defines for it in its loop over the registry is
planned with its derived inputs and output; a bad cross-reference stops the workflow while it is
parsed, with the one-line message `python -m clipcurate.config.check` prints too.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

TRAINER = '''"""A toy text detector (tests/workflow/test_trainer_plugin.py): one module plus config."""
from clipcurate.train.trainers import Trainer, register, register_schema
from clipcurate.train.trainers.inputs import PoolEmbeddings, ReferenceEmbeddings

register_schema(("properties", "toy_detectors"), {
    "type": "object",
    "additionalProperties": {"type": "object", "additionalProperties": False, "required": ["model", "positive"],
                             "properties": {"model": {"type": "string"}, "positive": {"type": "string"}}},
})
register(Trainer(
    name="train_toy_detector", label="toy detector", section=("toy_detectors",), wildcard="detector",
    inputs={"positive": ReferenceEmbeddings(set_key="positive", model_key="model"), "pool": PoolEmbeddings(model_key="model")},
    outputs={"detector": "results/toy_detectors/{detector}/detector.json"},
    params={"cfg": lambda entry, name, w: dict(entry)},
    script="train_toy_detector", env="data", resources={"mem_mb": 1000, "runtime": 5}, gpu=False, module=__name__,
))
'''
# a second toy trainer reading nothing, so that its job can run here: its rule must run its own script
# (rules/models.smk defines the rules in a loop; Snakemake evaluates `script:` again when a job runs)
CONSTANT = '''"""A toy trainer that writes its config entry (tests/workflow/test_trainer_plugin.py)."""
from clipcurate.train.trainers import Trainer, register, register_schema

register_schema(("properties", "toy_constants"), {"type": "object", "additionalProperties": {"type": "object"}})
register(Trainer(
    name="train_toy_constant", label="toy constant", section=("toy_constants",), wildcard="constant", inputs={},
    outputs={"out": "results/toy_constants/{constant}.json"}, params={"cfg": lambda entry, name, w: dict(entry)},
    script="train_toy_constant", env="data", resources={"mem_mb": 100, "runtime": 1}, gpu=False, module=__name__,
))
'''
SCORE = '''"""A score reading the toy detector (tests/workflow/test_trainer_plugin.py)."""
from clipcurate.scores import register
from clipcurate.scores.inputs import Artifact, Embeddings


@register("toy_detector", level="chunk",
          inputs={"emb": Embeddings(model_key="model"), "detector": Artifact("results/toy_detectors/{detector}/detector.json")})
def toy_detector(params, emb, detector):
    """Not run by this test."""
    return {}
'''
CONFIG = {
    "toy_detectors": {"d1": {"model": "openai", "positive": "hq"}},
    "scores": {"toy": {"method": "toy_detector", "model": "openai", "detector": "d1"}},
}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkout")
    for name in ("Snakefile", "rules", "src", "workflow", "config", "envs", "report"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    (root / "src/clipcurate/train/trainers/toy_detector.py").write_text(TRAINER)
    (root / "src/clipcurate/scores/methods/toy_detector.py").write_text(SCORE)
    (root / "workflow/scripts/train_toy_detector.py").write_text('"""Train the toy detector."""\nfrom clipcurate import io\n')
    (root / "src/clipcurate/train/trainers/toy_constant.py").write_text(CONSTANT)
    (root / "workflow/scripts/train_toy_constant.py").write_text(
        '"""Write the entry."""\nfrom pathlib import Path\n\nfrom clipcurate.core.fileio import write_json\nfrom clipcurate.core.runlog import start\n\n'
        'start(snakemake).info("toy constant %s", snakemake.wildcards.constant)\n'
        'write_json({"trainer": "toy_constant", **snakemake.params.cfg}, Path(snakemake.output.out))\n')
    return root


def _run(root, tmp_path, config, *args):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump(config))
    smk = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory", str(tmp_path),
                          "--configfile", str(cfg), *args], capture_output=True, text=True)
    check = subprocess.run([sys.executable, "-m", "clipcurate.config.check", "--repo", str(root), str(cfg)],
                           capture_output=True, text=True, cwd=root, env={"PYTHONPATH": str(root / "src"), "PATH": ""})
    return smk, smk.stdout + smk.stderr, check


def test_a_toy_trainer_module_is_planned_by_the_workflow(checkout, tmp_path):
    smk, out, check = _run(checkout, tmp_path, CONFIG, "-n", "results/scores/toy.parquet")
    assert smk.returncode == 0, out[-3000:]
    assert check.returncode == 0 and check.stdout.strip() == "config OK", check.stderr
    assert "rule train_toy_detector:" in out and "results/toy_detectors/d1/detector.json" in out
    # its inputs, derived from the declared kinds: the reference set's and the pool's embeddings
    assert "results/reference_embeddings/openai/hq.parquet" in out and "results/embeddings/openai/00000.parquet" in out
    assert "logs/train_toy_detector/d1.log" in out
    assert "rule score_chunk:" in out  # the score reading the detector


@pytest.mark.parametrize("override, message", [
    ({"scores": {"toy": {"detector": "d2"}}}, "config: scores.toy.detector: unknown toy detector 'd2'; known toy_detectors: d1"),
    ({"toy_detectors": {"d1": {"model": "nope"}}}, "config: toy_detectors.d1.model: unknown model 'nope'"),
])
def test_a_bad_cross_reference_stops_the_workflow_while_it_is_parsed(checkout, tmp_path, override, message):
    cfg = yaml.safe_load(yaml.safe_dump(CONFIG))
    for section, entries in override.items():
        for name, values in entries.items():
            cfg[section][name].update(values)
    smk, out, check = _run(checkout, tmp_path, cfg, "-n", "results/scores/toy.parquet")
    assert smk.returncode != 0 and message in out, out[-3000:]
    assert "rule train_toy_detector" not in out  # refused before any job is planned
    assert check.returncode == 1 and check.stderr.strip().startswith(message) and len(check.stderr.strip().splitlines()) == 1, check.stderr


def test_a_trainer_job_runs_its_own_script(checkout, tmp_path):
    config = {**CONFIG, "toy_constants": {"c1": {"value": 7}}}
    smk, out, check = _run(checkout, tmp_path, config, "--cores", "1", "results/toy_constants/c1.json")
    assert smk.returncode == 0, out[-3000:]
    assert yaml.safe_load((tmp_path / "results/toy_constants/c1.json").read_text()) == {"trainer": "toy_constant", "value": 7}
    assert (tmp_path / "logs/train_toy_constant/c1.log").exists()
