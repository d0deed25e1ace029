# Config access, path helpers, wildcard constraints and resource helpers shared by all rules.
# Everything here runs at parse time, which the Slurm executor repeats in every job: keep it cheap.

import hashlib
import math
from pathlib import Path

import yaml

from clipcurate.scores.plan import check_scores

REPO = Path(workflow.basedir)


def _merge_named_files(kind):
    """Merge config/<kind>/*.yaml (recipes, tables) under config[kind]; config entries win."""
    merged = {}
    for path in sorted((REPO / "config" / kind).glob("*.yaml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if name in merged:
                raise ValueError(f"{path}: {kind[:-1]} {name!r} is defined twice")
            merged[name] = entry
    merged.update(config.get(kind) or {})
    config[kind] = merged


_merge_named_files("recipes")
_merge_named_files("tables")
SHOW_REPORTED = bool(config.get("show_reported", False))

SCALE = config["scale"]
SEED = int(config["seed"])
# CPU threads of a model job (embed, train, evaluate, FLYT): torch threads and data-loading workers.
# On the tiny world one thread is fastest (open_clip_train's loader worker takes the other core) and
# lets two such jobs run side by side.
JOB_THREADS = int(SCALE.get("job_threads", 1))
# On a machine with few cores, jobs that lead to a subset (models, embeddings, scores, mixes,
# samples, reshards) go first, then trainings, then evaluations: every training job starts early,
# instead of the scoring chain or a training waiting behind shorter jobs.
SELECTION_PRIORITY = 2
TRAIN_PRIORITY = 1
DEFAULT_TABLES = ["table1"]

WORLD_DIR = "resources/world"
POOL_SHARDS = "results/pool/shards"
POOL_INDEX = "results/pool/index.parquet"




def check_config():
    """Cross-key checks the JSON schema cannot express; each error names the key."""
    if config["pool"]["source"] == "world" and config["world"]["pool_size"] != SCALE["pool_size"]:
        raise ValueError(
            f"config: world.pool_size ({config['world']['pool_size']}) must equal scale.pool_size ({SCALE['pool_size']})"
        )
    for name, recipe in config["recipes"].items():
        for key in ("score",):
            if key in recipe and recipe[key] not in config["scores"]:
                raise ValueError(f"config: recipes.{name}.{key}: unknown score {recipe[key]!r}; known: {sorted(config['scores'])}")
        if "mix" in recipe and recipe["mix"] not in config["mixes"]:
            raise ValueError(f"config: recipes.{name}.mix: unknown mix {recipe['mix']!r}; known: {sorted(config['mixes'])}")
    for name, table in config["tables"].items():
        for i, row in enumerate(table["rows"]):
            if row["recipe"] not in config["recipes"]:
                raise ValueError(f"config: tables.{name}.rows[{i}].recipe: unknown recipe {row['recipe']!r}; known: {sorted(config['recipes'])}")
    for name, run in config["flyt"]["runs"].items():
        for key in ("reference_model", "embed_model"):
            if key in run and run[key] not in config["models"]:
                raise ValueError(f"config: flyt.runs.{name}.{key}: unknown model {run[key]!r}; known: {sorted(config['models'])}")
        for inp in run.get("inputs", []):
            if inp.split(":")[0] not in config["scores"]:
                raise ValueError(f"config: flyt.runs.{name}.inputs: unknown score {inp!r}; known: {sorted(config['scores'])}")
    check_scores(config)  # scores: and mixes: (clipcurate.scores.plan)


def lookup(kind, name):
    """config[kind][name], or an error that lists the known names."""
    entries = config[kind]
    if name not in entries:
        raise ValueError(f"unknown {kind[:-1]} {name!r}; known {kind}: {', '.join(sorted(entries))}")
    return entries[name]


# ---- pool layout: chunks are planned from config alone, so a dry run needs no data ----------


def num_shards():
    pool = config["pool"]
    if pool["source"] == "world":
        return math.ceil(config["world"]["pool_size"] / SCALE["samples_per_shard"])
    if pool.get("shard_list"):
        with open(pool["shard_list"]) as f:
            return sum(1 for line in f if line.strip())
    if pool.get("num_shards"):
        return int(pool["num_shards"])
    return math.ceil(SCALE["pool_size"] / SCALE["samples_per_shard"])


CHUNKS = [f"{c:05d}" for c in range(math.ceil(num_shards() / SCALE["chunk_shards"]))]


# ---- models ---------------------------------------------------------------------------------


def model_spec(name):
    """The {arch, pretrained} spec of a configured model; trained ones point at their results."""
    m = lookup("models", name)
    if m.get("train"):
        return {"arch": m["arch"], "pretrained": f"results/models/{name}/open_clip_pytorch_model.bin"}
    return {"arch": m["arch"], "pretrained": m.get("pretrained")}


def model_files(name):
    """Extra inputs for using a model: its weights when the workflow trains them (a reference
    model, or a `pretrained` path under results/, e.g. the model trained on the unfiltered pool)."""
    m = lookup("models", name)
    if m.get("train"):
        return [f"results/models/{name}/open_clip_pytorch_model.bin"]
    if str(m.get("pretrained") or "").startswith("results/"):
        return [m["pretrained"]]
    return []


# ---- code versions: Snakemake does not track imported modules, so rules pass a hash ----------


def code_version(*modules):
    h = hashlib.sha256()
    for mod in modules:
        parts = mod.split(".")
        path = REPO.joinpath("src", "clipcurate", *parts[:-1], parts[-1] + ".py")
        if not path.exists():
            path = REPO.joinpath("src", "clipcurate", *parts, "__init__.py")
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# ---- resources ------------------------------------------------------------------------------


def gpu_resources(mem_mb, runtime, gpus=1):
    """Resources of a GPU step: on the tiny world the GPU request is dropped."""
    res = {"mem_mb": mem_mb, "runtime": runtime}
    if SCALE["name"] != "tiny":
        res["gpu"] = gpus
    return res


# ---- pool (rules/pool.smk) ------------------------------------------------------

def metadata_dir(wildcards=None):
    if config["pool"]["source"] == "world":
        return "results/pool/metadata"
    return config["pool"]["metadata_dir"]


# ---- models (rules/models.smk) ----------------------------------------------------

def trained_model_cfg(wildcards):
    m = lookup("models", wildcards.model)
    if not m.get("train"):
        raise ValueError(f"model {wildcards.model!r} has no `train` section: it uses pretrained={m.get('pretrained')!r}")
    return m


# ---- score (rules/score.smk): resolution and checks live in clipcurate.scores.plan ----------


def score_plan(name):
    """scores.<name> resolved into its method, inputs and params (PlanError names the key)."""
    from clipcurate.scores.plan import plan_score

    return plan_score(config, name)


def reported_score_names():
    """Wildcard regex matching the scores whose method writes a report (imports; never matches if none)."""
    import re

    from clipcurate.scores.plan import score_names

    names = score_names(config, report=True)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def score_chunk_inputs(wildcards):
    from clipcurate.scores.plan import score_files

    return score_files(score_plan(wildcards.score), chunk=wildcards.chunk)


def score_inputs(wildcards):
    from clipcurate.scores.plan import score_files

    plan = score_plan(wildcards.score)
    if plan.level == "chunk":
        return {"index": POOL_INDEX, "chunks": expand("results/scores/{score}/chunks/{chunk}.parquet", score=wildcards.score, chunk=CHUNKS)}
    return score_files(plan, chunks=CHUNKS)


def score_code(wildcards):
    from clipcurate.scores.plan import code_version as score_code_version

    return score_code_version(score_plan(wildcards.score).method)


def reference_set_dir(wildcards):
    from clipcurate.scores.plan import reference_sets

    return reference_sets(config)[wildcards.set]


def reference_set_input(wildcards):
    from clipcurate.scores.plan import reference_set_input as _input

    return _input(config, wildcards.set)


# ---- FLYT scorers (rules/models.smk) ----------------------------------------------


def flyt_run(name, key="flyt.runs", scorer=None):
    """config.flyt.runs[name], checked to exist (and to be of kind ``scorer``); errors name ``key``."""
    runs = config["flyt"]["runs"]
    if name not in runs:
        raise ValueError(f"config: {key}: unknown flyt run {name!r}; known flyt.runs: {', '.join(sorted(runs)) or '(none)'}")
    if scorer and runs[name]["scorer"] != scorer:
        raise ValueError(f"config: {key}: flyt run {name!r} has scorer {runs[name]['scorer']!r}, expected {scorer!r}")
    return runs[name]


def flyt_names(scorer):
    """Wildcard regex matching the names of the FLYT runs of one scorer kind (never matches if none)."""
    names = [n for n, r in config["flyt"]["runs"].items() if r["scorer"] == scorer]
    return "|".join(names) if names else "(?!)"


def flyt_train(name):
    """A run's training hyperparameters: config.flyt.train, overridden by the run's own train."""
    return {**config["flyt"]["train"], **(flyt_run(name).get("train") or {})}


def flyt_downstream_dir(run):
    return run.get("downstream") or f"{WORLD_DIR}/reference/downstream"


def score_specs(inputs):
    """(input name, score file, column) for score references written ``name`` or ``name:column``."""
    from clipcurate.scores.plan import score_specs as _specs

    return _specs(inputs)


def flyt_inputs(wildcards):
    run = flyt_run(wildcards.flyt)
    inputs = {
        "index": POOL_INDEX,
        "shards": POOL_SHARDS,
        "reference": model_files(run["reference_model"]),
        # a subdirectory of the world cannot be an input of its own; depend on the world itself
        "downstream": run.get("downstream") or WORLD_DIR,
    }
    if run["scorer"] == "mixer":
        inputs["scores"] = [path for _, path, _ in score_specs(run["inputs"])]
    else:
        inputs["embedder"] = model_files(run["embed_model"])
    return inputs


def flyt_params(wildcards):
    run = flyt_run(wildcards.flyt)
    return {
        "scorer": run["scorer"],
        "train": flyt_train(wildcards.flyt),
        "reference_spec": model_spec(run["reference_model"]),
        "downstream_dir": flyt_downstream_dir(run),
        "score_specs": score_specs(run.get("inputs", [])),
        "embed_spec": model_spec(run["embed_model"]) if "embed_model" in run else None,
        "hidden_mult": float(run.get("hidden_mult", 1.0)),
    }


# ---- mix (rules/mix.smk): resolution and checks live in clipcurate.scores.plan -----------


def mix_plan(name):
    from clipcurate.scores.plan import plan_mix

    return plan_mix(config, name)


def mix_inputs(wildcards):
    from clipcurate.scores.plan import mix_files

    return mix_files(mix_plan(wildcards.mix))


# ---- sample (rules/sample.smk) ----------------------------------------------------

def recipe_score_file(recipe):
    if "mix" in recipe:
        return f"results/mixes/{recipe['mix']}.parquet"
    if "score" in recipe:
        return f"results/scores/{recipe['score']}.parquet"
    return []


def extra_reference_dirs(recipe):
    """Folders of webdataset shards a recipe adds to its training set (``extra_reference``): a world
    reference set by name (e.g. ``downstream``), or a folder path at real scale."""
    return [e if Path(e).name != e else f"{WORLD_DIR}/reference/{e}" for e in recipe.get("extra_reference") or []]


def extra_reference_inputs(recipe):
    """The inputs they need: the world itself for its sets (a subfolder cannot be an input), else the folder."""
    return sorted({WORLD_DIR if Path(e).name == e else e for e in recipe.get("extra_reference") or []})


# ---- evaluate (rules/evaluate.smk) --------------------------------------------------

def suite_path():
    return str(REPO / "config" / "tasks" / f"{config['evaluation']['suite']}.yaml")


def eval_root():
    root = config["evaluation"].get("data_root")
    return root if root else f"{WORLD_DIR}/eval"


def eval_input():
    """The world directory (eval sets live inside it) or the user's pre-downloaded eval sets."""
    return config["evaluation"].get("data_root") or WORLD_DIR


# ---- tables (rules/tables.smk) ----------------------------------------------------

def table_inputs(wildcards):
    table = lookup("tables", wildcards.table)
    recipes = [row["recipe"] for row in table["rows"]]
    return {
        "evals": [f"results/eval/{r}.jsonl" for r in recipes],
        "subsets": [f"results/subsets/{r}.parquet" for r in recipes],
    }


# ---- DFN and reports (rules/models.smk, rules/reports.smk) --------------------------------

def reference_model_inputs(wildcards):
    """A trained auxiliary model's inputs: the world (its reference sets), the weights it starts from
    when those are made here (a DFN-FT starts from the DFN), and the pool when part of its set is
    replaced by pool data."""
    m = trained_model_cfg(wildcards)
    inputs = {"world": WORLD_DIR}
    init = str(m.get("pretrained") or "")
    if init.startswith("results/"):
        inputs["init"] = init
    if m["train"].get("replace_with_pool"):
        inputs["index"] = POOL_INDEX
        inputs["shards"] = POOL_SHARDS
    return inputs


def classifier_cfg(wildcards):
    """config.classifiers[name]: {model, positive (a reference set), features, steps, batch_size, lr, warmup}."""
    return lookup("classifiers", wildcards.classifier)


def add_dfn_quality_entries():
    """Add the data-quality experiment's models, scores and recipes to config; return its points."""
    block = config.get("dfn_quality")
    if not block:
        return []
    from clipcurate.dfn import expand_quality_experiment

    entries = expand_quality_experiment(block, config["models"], SEED, config["recipes"])
    for kind in ("models", "scores", "recipes"):
        for name, entry in entries[kind].items():
            if name in config[kind]:
                raise ValueError(f"config: dfn_quality adds {kind[:-1]} {name!r}, which config already defines")
            config[kind][name] = entry
    return entries["points"]


def score_quality_inputs(wildcards):
    """Every configured score (but those the report excludes), the recipes sampling from them, and
    the world's ground truth: the report exists only on the tiny world."""
    if config["pool"]["source"] != "world":
        raise ValueError("results/reports/score_quality.csv needs the tiny world's ground truth (pool.source: world)")
    scores = quality_scores()
    return {
        "world": WORLD_DIR,
        "index": POOL_INDEX,
        "scores": [f"results/scores/{s}.parquet" for s in scores],
        "subsets": [f"results/subsets/{r}.parquet" for r in quality_recipes()],
    }


def quality_scores():
    exclude = set((config.get("reports") or {}).get("score_quality", {}).get("exclude") or [])
    return [s for s in config["scores"] if s not in exclude]


def quality_recipes():
    scores = set(quality_scores())
    return [r for r, rec in config["recipes"].items() if rec.get("score") in scores]


def dfn_quality_inputs(wildcards):
    if not DFN_QUALITY_POINTS:
        raise ValueError("results/figures/dfn_data_quality.png needs a `dfn_quality` config block")
    return {
        "dfn_evals": [f"results/eval/models/{p['model']}.jsonl" for p in DFN_QUALITY_POINTS],
        "subset_evals": [f"results/eval/{p['recipe']}.jsonl" for p in DFN_QUALITY_POINTS],
    }


# The DFN paper's data-quality experiment (config `dfn_quality`): its models, scores and recipes are
# derived from one config block and added to config here, so that they are validated and checked
# like configured ones.
DFN_QUALITY_POINTS = add_dfn_quality_entries()
