"""Trainers as plug-ins (clipcurate.train.trainers): a new trainer is one module plus config.

The toy text detector below is what such a module holds: a schema fragment for its config section,
its typed inputs, its output, params, script, env and resources. Registered (as importing its module
would), it is planned with no other edit: its rule's inputs, outputs and wildcard constraint derive
from it, a score reading its artifact plans, and a bad cross-reference is refused when the config
is loaded, with a one-line message naming the key."""

import copy
from pathlib import Path
from types import SimpleNamespace as W

import pytest
import yaml
from snakemake.utils import update_config

from clipcurate.config import check as config_check
from clipcurate import scores
from clipcurate.train import trainers
from clipcurate.config.wiring import Wiring
from clipcurate.scores.inputs import Artifact, Embeddings
from clipcurate.scores.plan import plan_score, score_files
from clipcurate.train.trainers import Trainer
from clipcurate.train.trainers.inputs import PoolEmbeddings, ReferenceEmbeddings

REPO = Path(__file__).resolve().parents[2]
TOY_SECTION = {
    "type": "object",
    "additionalProperties": {
        "type": "object", "additionalProperties": False, "required": ["model", "positive"],
        "properties": {"model": {"type": "string"}, "positive": {"type": "string"}, "steps": {"type": "integer", "minimum": 1}},
    },
}
TOY = Trainer(
    name="train_toy_detector",
    label="toy detector",
    section=("toy_detectors",),
    wildcard="detector",
    inputs={"positive": ReferenceEmbeddings(set_key="positive", model_key="model"), "pool": PoolEmbeddings(model_key="model")},
    outputs={"detector": "results/toy_detectors/{detector}/detector.json"},
    params={"cfg": lambda entry, name, w: dict(entry), "seed": lambda entry, name, w: w.seed},
    script="train_toy_detector",
    env="data",
    resources={"mem_mb": 1000, "runtime": 5},
    gpu=False,
    module="tests.toy_detector",
)


@pytest.fixture
def toy():
    """The toy trainer and a score method reading its artifact, registered for one test."""
    trainers.register_schema(("properties", "toy_detectors"), TOY_SECTION)
    trainers.register(TOY)

    @scores.register("_toy_detector", level="chunk", inputs={"emb": Embeddings(model_key="model"),
                                                             "detector": Artifact("results/toy_detectors/{detector}/detector.json")})
    def _toy_detector(params, emb, detector):
        return {}

    yield TOY
    trainers.REGISTRY.pop(TOY.name)
    trainers.SCHEMA_FRAGMENTS.pop(("properties", "toy_detectors"))
    scores.REGISTRY.pop("_toy_detector")


def _config(**override):
    cfg: dict = {}
    for f in ("config/config.yaml", "config/scales/tiny.yaml"):
        update_config(cfg, yaml.safe_load((REPO / f).read_text()))
    update_config(cfg, copy.deepcopy(override))
    config_check.prepare(cfg, REPO)
    return cfg


TOY_CONFIG = {
    "toy_detectors": {"d1": {"model": "openai", "positive": "hq", "steps": 3}},
    "scores": {"toy": {"method": "_toy_detector", "model": "openai", "detector": "d1"}},
}


def test_a_toy_trainer_is_planned_from_its_module_and_config(toy, tmp_path):
    # the checkout with the toy's script (workflow/scripts/train_toy_detector.py) added
    (tmp_path / "workflow" / "scripts").mkdir(parents=True)
    (tmp_path / "workflow" / "scripts" / "train_toy_detector.py").write_text("from clipcurate.core import fileio\n")
    (tmp_path / "src").symlink_to(REPO / "src")
    w = Wiring(_config(**TOY_CONFIG), tmp_path)
    assert toy in w.trainers()
    # its rule: inputs from the declared kinds, outputs, wildcard constraint, params, resources
    assert w.trainer_constraints(toy) == {"detector": "d1"}
    assert w.trainer_inputs(toy)(W(detector="d1")) == {
        "positive": "results/reference_embeddings/openai/hq.parquet",
        "pool": [f"results/embeddings/openai/{c}.parquet" for c in w.chunks],
    }
    assert w.trainer_outputs(toy) == {"detector": "results/toy_detectors/{detector}/detector.json"}
    params = w.trainer_params(toy)
    assert params["cfg"](W(detector="d1")) == {"model": "openai", "positive": "hq", "steps": 3}
    assert params["seed"](W(detector="d1")) == w.seed and params["code"] == w.code_version("train_toy_detector")
    assert w.trainer_resources(toy) == {"mem_mb": 1000, "runtime": 5}
    assert toy.log == "logs/train_toy_detector/{detector}.log"
    # a score consuming its artifact: the file the toy rule writes is the score's input
    plan = plan_score(w.config, "toy")
    assert score_files(plan, chunk="00000")["detector"] == "results/toy_detectors/d1/detector.json"
    assert trainers.artifact_of("results/toy_detectors/d1/detector.json") == (toy, "d1")


@pytest.mark.parametrize("override, message", [
    # the score names a detector that is not configured
    ({"scores": {"toy": {"detector": "d2"}}}, "config: scores.toy.detector: unknown toy detector 'd2'; known toy_detectors: d1"),
    # the detector's own inputs name a model or reference set that does not exist
    ({"toy_detectors": {"d1": {"model": "nope"}}}, "config: toy_detectors.d1.model: unknown model 'nope'; known: "),
    ({"toy_detectors": {"d1": {"positive": "imagenet"}}}, "config: toy_detectors.d1.positive: unknown reference set 'imagenet'"),
    # its schema fragment: a key the section does not take
    ({"toy_detectors": {"d1": {"stepz": 3}}}, "config key toy_detectors.d1: Additional properties are not allowed ('stepz' was unexpected)"),
])
def test_a_bad_cross_reference_of_the_toy_trainer_is_refused_when_the_config_is_loaded(toy, override, message):
    cfg = copy.deepcopy(TOY_CONFIG)
    update_config(cfg, override)
    with pytest.raises(config_check.ConfigError) as err:
        _config(**cfg)
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_without_the_module_its_section_is_unknown():
    with pytest.raises(config_check.ConfigError, match=r"^config: unknown top-level key 'toy_detectors'"):
        _config(**TOY_CONFIG)


def test_register_refuses_bad_declarations(toy):
    with pytest.raises(ValueError, match="must have exactly the field"):
        trainers.register(Trainer(**{**TOY.__dict__, "name": "_t1", "outputs": {"x": "results/x/model.pt"}}))
    with pytest.raises(ValueError, match="not a kind of clipcurate.train.trainers.inputs"):
        trainers.register(Trainer(**{**TOY.__dict__, "name": "_t2", "inputs": {"emb": Embeddings()}}))
    with pytest.raises(ValueError, match="already trainer train_toy_detector's"):
        trainers.register(Trainer(**{**TOY.__dict__, "name": "_t3", "module": "elsewhere"}))
    assert not {"_t1", "_t2", "_t3"} & set(trainers.REGISTRY)


def test_the_shipped_trainers_declare_what_their_rules_had():
    names = {t.name: t for t in trainers.trainers()}
    assert set(names) >= {"train_reference_model", "train_classifier", "train_mflyt", "train_eflyt"}
    # the artifacts scores and mixes read are found by their declared paths
    assert trainers.producer("results/flyt/{flyt}/head.pt") is names["train_eflyt"]
    assert trainers.producer("results/flyt/{flyt}/mixer.json") is names["train_mflyt"]
    assert trainers.producer("results/classifiers/{classifier}/classifier.pt") is names["train_classifier"]
    # every trainer's script exists
    for t in names.values():
        assert (REPO / "workflow" / "scripts" / f"{t.script}.py").is_file(), t.name
        assert (REPO / "envs" / f"{t.env}.yaml").is_file(), t.name


def test_adding_a_trainer_module_changes_no_code_version(tmp_path):
    """Trainer modules are found by the registry at run time, not imported by any job's script: a new
    one changes the code version of no rule (so nothing already built reruns)."""
    import shutil

    from clipcurate.core import codeversion
    from clipcurate.core.codeversion import code_version

    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    def versions():
        codeversion._parse_imports.cache_clear()  # as in a new process: package listings read again
        return {s.name: code_version(s, src) for s in scripts}

    before = versions()
    (src / "clipcurate" / "train" / "trainers" / "toy_detector.py").write_text(
        "from clipcurate.train.trainers import Trainer, register\nfrom clipcurate.core import fileio  # noqa: F401\n")
    assert versions() == before
    # while an edit to a module the scripts import changes their versions (the check can fail)
    with open(src / "clipcurate" / "core" / "scorefiles.py", "a") as f:
        f.write("# edited\n")
    changed = {k for k, v in versions().items() if v != before[k]}
    assert "score.py" in changed


def test_the_readmes_trainer_example_plans(tmp_path):
    """README "Adding a trainer": its module and config, registered and planned as written."""
    import re

    text = (REPO / "README.md").read_text()
    section = text[text.index("### Adding a trainer"):text.index("## FLYT, M-FLYT")]
    code = re.findall(r"```\n(# src/clipcurate/train/trainers/.*?)```", section, flags=re.S)[0]
    config = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[0])
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_trainer"})
    try:
        t = trainers.get("train_probe")
        w = Wiring(_config(**config), REPO)
        assert w.trainer_constraints(t) == {"probe": "hq_vs_pool"}
        assert w.trainer_inputs(t)(W(probe="hq_vs_pool")) == {
            "positive": "results/reference_embeddings/openai/hq.parquet",
            "embeddings": [f"results/embeddings/openai/{c}.parquet" for c in w.chunks],
        }
        assert t.output_paths("hq_vs_pool") == {"probe": "results/probes/hq_vs_pool.npz"}
        with pytest.raises(config_check.ConfigError, match=r"^config: probes\.x\.model: unknown model 'gpt'"):
            _config(probes={"x": {"model": "gpt", "positive": "hq"}})
    finally:
        trainers.REGISTRY.pop("train_probe", None)
        trainers.SCHEMA_FRAGMENTS.pop(("properties", "probes"), None)
