"""The score/mix planner on crafted configs: inputs derived per input kind, errors naming the key."""

import copy

import pytest
from pathlib import Path

from clipcurate.scores import REGISTRY, register
from clipcurate.scores.inputs import Artifact, Embeddings, Metadata, Reference, Scores, Truth
from clipcurate.scores.mixplan import check_scores, mix_files, plan_mix
from clipcurate.scores.plan import PlanError, code_version, plan_score, score_files


@register("_plan_ref", level="pool",
          inputs={"emb": Embeddings(model_key="model"), "ref": Reference(set="downstream", model_key="ref_model", set_key="set"),
                  "meta": Metadata(columns=("text",)), "others": Scores(key="inputs")},
          outputs=("score", "keep"), defaults={"k": 3})
def _plan_ref(params, emb, ref, meta, others):
    return {}


@register("_plan_textmask", level="chunk", inputs={"emb": Embeddings(variant="textmask")})
def _plan_textmask(params, emb):
    return {}


@register("_plan_hflip", level="chunk", inputs={"emb": Embeddings(variant="hflip")})
def _plan_hflip(params, emb):
    return {}


@register("_plan_fixed", level="chunk", inputs={"emb": Embeddings(variant="plain", variant_key=None)})
def _plan_fixed(params, emb):
    return {}


BASE = {
    "pool": {"source": "world"},
    "models": {"openai": {"arch": "a"}, "dfn": {"arch": "a"}},
    "scores": {
        "clip_score": {"method": "clip_score", "model": "openai"},
        "truth_clean": {"method": "truth_clean"},
        "eflyt": {"method": "eflyt", "model": "openai", "flyt": "e1"},
        "ref": {"method": "_plan_ref", "model": "openai", "ref_model": "dfn", "set": "hq", "inputs": ["clip_score", "truth_clean:keep"],
                "params": {"k": 5}},
        "flip": {"method": "_plan_hflip", "model": "dfn"},
    },
    "mixes": {
        "sum": {"method": "sum", "inputs": ["clip_score", "eflyt"]},
        "mflyt": {"method": "mflyt", "flyt": "m1"},
        "inw": {"method": "in_weighted", "inputs": ["clip_score", "eflyt"], "params": {"r": 8, "in_accuracy": {"clip_score": "recipe:r1", "eflyt": 0.3}}},
    },
    "flyt": {"runs": {"e1": {"scorer": "embedding", "embed_model": "openai", "reference_model": "openai"},
                      "m1": {"scorer": "mixer", "inputs": ["clip_score", "eflyt"], "reference_model": "openai"}}},
    "recipes": {"r1": {}},
    "reference_sets": {},
}


def cfg(**changes):
    c = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = c
        parts = path.split("__")
        for p in parts[:-1]:
            node = node[p]
        if value is None:
            del node[parts[-1]]
        else:
            node[parts[-1]] = value
    return c


def test_the_default_entries_plan():
    check_scores(cfg())
    p = plan_score(cfg(), "clip_score")
    assert (p.method, p.level, p.outputs, p.params) == ("clip_score", "chunk", ("score",), {})
    assert p.inputs == {"emb": {"kind": "embeddings", "model": "openai", "variant": "plain"}}
    assert score_files(p, chunk="00003") == {"index": "results/pool/index.parquet", "emb": "results/embeddings/openai/00003.parquet"}


def test_artifact_path_is_formatted_from_the_entry():
    p = plan_score(cfg(), "eflyt")
    assert p.inputs["head"] == {"kind": "artifact", "path": "results/flyt/e1/head.pt"}
    assert score_files(p, chunk="00000")["head"] == "results/flyt/e1/head.pt"


def test_truth_makes_an_oracle_planned_only_on_the_world():
    p = plan_score(cfg(), "truth_clean")
    assert p.oracle and p.level == "pool" and p.outputs == ("score", "keep")
    assert score_files(p, chunks=["00000"]) == {"index": "results/pool/index.parquet", "truth": "resources/world"}
    real = cfg(pool={"source": "datacomp", "metadata_dir": "/m"}, scores__ref=None)
    with pytest.raises(PlanError, match=r"scores\.truth_clean\.method: 'truth_clean' is an oracle"):
        plan_score(real, "truth_clean")
    check_scores(real)  # an unused oracle entry does not stop a real-scale run


def test_every_kind_resolves_with_defaults_overridden():
    p = plan_score(cfg(), "ref")
    assert p.params == {"k": 5}
    assert p.inputs == {
        "emb": {"kind": "embeddings", "model": "openai", "variant": "plain"},
        "ref": {"kind": "reference", "model": "dfn", "set": "hq"},
        "meta": {"kind": "metadata", "columns": ["text"]},
        "others": {"kind": "scores", "refs": [["clip_score", "results/scores/clip_score.parquet", "score"],
                                              ["truth_clean:keep", "results/scores/truth_clean.parquet", "keep"]]},
    }
    files = score_files(p, chunks=["00000", "00001"])
    assert files == {
        "index": "results/pool/index.parquet",
        "emb": ["results/embeddings/openai/00000.parquet", "results/embeddings/openai/00001.parquet"],
        "ref": "results/reference_embeddings/dfn/hq.parquet",
        "meta": "results/pool/shards",
        "others": ["results/scores/clip_score.parquet", "results/scores/truth_clean.parquet"],
    }
    # without set_key in the entry the declared set is used; a user set is allowed by name
    assert plan_score(cfg(scores__ref__set=None), "ref").inputs["ref"]["set"] == "downstream"
    user = cfg(scores__ref__set="laion_hq", reference_sets={"laion_hq": "/data/hq"}, pool={"source": "datacomp"})
    assert plan_score(user, "ref").inputs["ref"]["set"] == "laion_hq"
    assert plan_score(cfg(), "ref").to_dict()["outputs"] == ["score", "keep"]


def test_hflip_variant_path():
    """A variant's images with the plain embeddings' text vectors (a variant embeds images only)."""
    p = plan_score(cfg(), "flip")
    files = score_files(p, chunk="00001")
    assert files["emb"] == "results/embeddings/dfn/hflip/00001.parquet"
    assert files["emb__text"] == "results/embeddings/dfn/00001.parquet"
    pool = score_files(p, chunks=["00000", "00001"])
    assert pool["emb"] == ["results/embeddings/dfn/hflip/00000.parquet", "results/embeddings/dfn/hflip/00001.parquet"]
    assert pool["emb__text"] == ["results/embeddings/dfn/00000.parquet", "results/embeddings/dfn/00001.parquet"]
    assert "emb__text" not in score_files(plan_score(cfg(), "clip_score"), chunk="00001")


def test_a_score_entry_chooses_its_variant():
    """`variant:` in a clip_score entry overrides the declared default (plain), and the plan, hence
    the score job's params, names it; a method may override the entry key or fix its variant."""
    c = cfg(scores__flipped={"method": "clip_score", "model": "openai", "variant": "hflip"})
    p = plan_score(c, "flipped")
    assert p.inputs["emb"] == {"kind": "embeddings", "model": "openai", "variant": "hflip"}
    assert score_files(p, chunk="00002") == {"index": "results/pool/index.parquet",
                                             "emb": "results/embeddings/openai/hflip/00002.parquet",
                                             "emb__text": "results/embeddings/openai/00002.parquet"}
    assert plan_score(c, "clip_score").inputs["emb"]["variant"] == "plain"
    # the flip method's own default, overridden back to plain by its entry
    assert plan_score(cfg(scores__flip__variant="plain"), "flip").inputs["emb"]["variant"] == "plain"
    with pytest.raises(PlanError, match=r"scores\.fixed\.variant: not an input of method '_plan_fixed'"):
        plan_score(cfg(scores__fixed={"method": "_plan_fixed", "model": "openai", "variant": "hflip"}), "fixed")


@pytest.mark.parametrize("changes, match", [
    ({"scores__clip_score__method": "nope"}, r"scores\.clip_score\.method: unknown score method 'nope'"),
    ({"scores__clip_score__model": "gpt"}, r"scores\.clip_score\.model: unknown model 'gpt'"),
    ({"scores__clip_score__model": None}, r"scores\.clip_score\.model: required by method 'clip_score' \(its input 'emb'"),
    ({"scores__clip_score__flyt": "e1"}, r"scores\.clip_score\.flyt: not an input of method 'clip_score'"),
    ({"scores__clip_score__params": {"t": 1}}, r"scores\.clip_score\.params\.t: unknown parameter of 'clip_score'"),
    ({"scores__eflyt__flyt": "zz"}, r"scores\.eflyt\.flyt: unknown E-FLYT run 'zz'; known flyt\.runs: e1, m1"),
    ({"scores__eflyt__flyt": "m1"}, r"^config: scores\.eflyt\.flyt: flyt\.runs\.m1 is no E-FLYT run \(scorer: embedding\); those are: e1$"),
    ({"scores__eflyt__model": "dfn"}, r"scores\.eflyt\.model \('dfn'\) must be the E-FLYT head's embedding model"),
    ({"scores__ref__set": "imagenet"}, r"scores\.ref\.set: unknown reference set 'imagenet'"),
    ({"scores__ref__ref_model": None}, r"scores\.ref\.ref_model: required by method '_plan_ref'"),
    ({"scores__ref__inputs": ["nope:score"]}, r"scores\.ref\.inputs: unknown score 'nope:score'"),
    ({"scores__ref__inputs": ["ref"]}, r"scores\.ref\.inputs: a score cannot read itself"),
    ({"scores__clip_score": {"method": "_plan_ref", "model": "openai", "ref_model": "openai", "inputs": ["ref"]}},
     r"scores read each other in a cycle"),
    ({"scores__tm": {"method": "_plan_textmask", "model": "openai"}}, r"scores\.tm\.method: .*'textmask' image variant, which is not available yet"),
    ({"scores__clip_score__variant": "textmask"},
     r"scores\.clip_score\.variant: method 'clip_score' needs .*'textmask' image variant, which is not available yet \(text masking needs an OCR"),
    ({"scores__clip_score__variant": "sepia"}, r"scores\.clip_score\.variant: unknown image variant 'sepia'; known variants: \['hflip', 'plain', 'textmask'\]"),
    ({"embed": {"variants": {"sepia": {}}}}, r"embed\.variants\.sepia: unknown image variant"),
    ({"embed": {"variants": {"hflip": {"params": {"axis": 1}}}}}, r"embed\.variants\.hflip\.params\.axis: unknown parameter of variant 'hflip'; known: \[\]"),
    ({"mixes__sum__inputs": ["clip_score", "nope"]}, r"mixes\.sum\.inputs: unknown score 'nope'"),
    ({"mixes__sum__inputs": None}, r"mixes\.sum\.inputs: required"),
    ({"mixes__sum__method": "avg"}, r"mixes\.sum\.method: unknown mixing method 'avg'"),
    ({"mixes__mflyt__flyt": "e1"}, r"^config: mixes\.mflyt\.flyt: flyt\.runs\.e1 is no M-FLYT run \(scorer: mixer\); those are: m1$"),
    ({"mixes__mflyt__flyt": "x"}, r"mixes\.mflyt\.flyt: unknown M-FLYT run 'x'"),
    ({"mixes__mflyt__params": {"r": 2}}, r"mixes\.mflyt\.params: method 'mflyt' takes its weights from its trained artifact \(flyt\.runs\.m1\); remove params"),
    ({"mixes__mflyt__inputs": ["clip_score"]}, r"mixes\.mflyt\.inputs: not allowed for method 'mflyt'"),
    ({"mixes__inw__params__in_accuracy__clip_score": "recipe:zz"}, r"mixes\.inw\.params\.in_accuracy: unknown recipe 'zz'"),
])
def test_errors_name_the_key(changes, match):
    with pytest.raises(PlanError, match=match):
        check_scores(cfg(**changes))


def test_world_sets_need_the_world():
    with pytest.raises(PlanError, match=r"scores\.ref\.set: unknown reference set 'hq'"):
        plan_score(cfg(pool={"source": "datacomp"}), "ref")


def test_mflyt_takes_inputs_and_mixer_from_its_run():
    p = plan_mix(cfg(), "mflyt")
    assert p.inputs == ["clip_score", "eflyt"] and p.artifacts == {"mixer": "results/flyt/m1/mixer.json"}
    assert mix_files(p) == {"index": "results/pool/index.parquet", "mixer": "results/flyt/m1/mixer.json",
                            "scores": ["results/scores/clip_score.parquet", "results/scores/eflyt.parquet"]}
    assert p.to_dict()["specs"] == [["clip_score", "results/scores/clip_score.parquet", "score"],
                                    ["eflyt", "results/scores/eflyt.parquet", "score"]]
    q = plan_mix(cfg(), "inw")
    assert q.recipes == ["r1"] and mix_files(q)["evals"] == ["results/eval/r1.jsonl"] and q.artifacts == {}


def test_register_refuses_bad_declarations():
    with pytest.raises(ValueError, match="not an input kind"):
        register("_bad1", level="chunk", inputs={"emb": "embeddings"})
    with pytest.raises(ValueError, match="reserved"):
        register("_bad2", level="chunk", inputs={"index": Truth()})
    for bad in (("bad column",), ("uid",), ("score", "score"), ()):
        with pytest.raises(ValueError, match="outputs"):
            register("_bad3", level="chunk", inputs={}, outputs=bad)
    with pytest.raises(ValueError, match="variant"):
        Embeddings(variant="sepia")
    with pytest.raises(ValueError, match="unknown column"):
        Metadata(columns=("caption_len",))
    assert "_bad1" not in REGISTRY


def test_code_version_follows_the_method_module(tmp_path):
    """A score job's version covers its script and the one method it runs: each method's module
    differs; editing an unrelated method, or adding one, changes nothing."""
    import shutil

    from clipcurate.scores import REGISTRY

    repo = Path(__file__).resolve().parents[2]
    src = tmp_path / "src"
    shutil.copytree(repo / "src", src)
    script = repo / "workflow" / "scripts" / "score.py"
    before = {m: code_version(m, script, src) for m in ("clip_score", "binary_classifier", "eflyt")}
    assert len(set(before.values())) == 3
    (src / "clipcurate" / "scores" / "_new_method.py").write_text("from clipcurate.scores import register\n")
    assert {m: code_version(m, script, src) for m in before} == before
    eflyt_file = src / "clipcurate" / "scores" / (REGISTRY["eflyt"].module.rpartition(".")[2] + ".py")
    eflyt_file.write_text(eflyt_file.read_text() + "\n# edited\n")
    after = {m: code_version(m, script, src) for m in before}
    assert after["clip_score"] == before["clip_score"]
    assert after["eflyt"] != before["eflyt"]
    # a module eflyt reaches only through its imports (flyt.run) counts for it
    run = src / "clipcurate" / "flyt" / "run.py"
    run.write_text(run.read_text() + "\n# edited\n")
    assert code_version("eflyt", script, src) != after["eflyt"]


def test_imports_plan_with_a_report_and_their_file_as_input():
    c = cfg(scores__pub={"method": "import_subset", "file": "/data/subset.npy"})
    p = plan_score(c, "pub")
    assert p.report and p.level == "pool" and p.outputs == ("score", "keep", "count")
    assert score_files(p, chunks=["00000"]) == {"index": "results/pool/index.parquet", "pool": "results/pool/shards",
                                                 "file": "/data/subset.npy"}
    from clipcurate.scores.plan import score_names

    assert score_names(c, report=True) == ["pub"]
    assert "pub" not in score_names(c, report=False) and "clip_score" in score_names(c, report=False)
    with pytest.raises(PlanError, match=r"scores\.pub\.file: required by method 'import_subset'"):
        check_scores(cfg(scores__pub={"method": "import_subset"}))
    with pytest.raises(PlanError, match=r"scores\.l14\.params\.col: unknown parameter of 'import_scores'; known: \['column', 'fill', 'min_coverage'\]"):
        check_scores(cfg(scores__l14={"method": "import_scores", "file": "x.parquet", "params": {"col": "a"}}))
    with pytest.raises(ValueError, match="report=True needs level='pool'"):
        register("_bad4", level="chunk", inputs={}, report=True)


def test_declared_mix_applies_its_artifact(tmp_path):
    import json

    from clipcurate.mixing import resolve_declared

    (tmp_path / "mixer.json").write_text(json.dumps({"inputs": ["clip_score", "eflyt"], "weights": [0.7, -0.2], "bias": 0.1,
                                                     "mean": [0, 0], "std": [1, 1]}))
    method, params = resolve_declared("mflyt", {}, ["clip_score", "eflyt"], {"mixer": tmp_path / "mixer.json"})
    assert (method, params) == ("weighted_sum", {"weights": {"clip_score": 0.7, "eflyt": -0.2}, "standardize": True})
    assert resolve_declared("sum", {"x": 1}, ["a"], {}) == ("sum", {"x": 1})
    with pytest.raises(Exception, match="differ from the run's"):
        resolve_declared("mflyt", {}, ["eflyt", "clip_score"], {"mixer": tmp_path / "mixer.json"})
