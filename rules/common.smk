# Config access, path helpers, wildcard constraints and resource helpers shared by all rules.
# Everything here runs at parse time, which the Slurm executor repeats in every job: keep it cheap.

import hashlib
import math
from pathlib import Path

import yaml

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
    for name, mix in config["mixes"].items():
        for inp in mix["inputs"]:
            if inp.split(":")[0] not in config["scores"]:
                raise ValueError(f"config: mixes.{name}.inputs: unknown score {inp!r}; known: {sorted(config['scores'])}")


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
    """Extra inputs for using a model: its trained weights when the workflow trains it."""
    m = lookup("models", name)
    return [f"results/models/{name}/open_clip_pytorch_model.bin"] if m.get("train") else []


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


# ---- score (rules/score.smk) -----------------------------------------------------

def score_cfg(name):
    return lookup("scores", name)


def score_method(name):
    from clipcurate.scores import get

    return get(score_cfg(name)["method"])


def score_inputs(wildcards):
    m = score_method(wildcards.score)
    inputs = {"index": POOL_INDEX}
    if m.level == "chunk":
        inputs["chunks"] = expand("results/scores/{score}/chunks/{chunk}.parquet", score=wildcards.score, chunk=CHUNKS)
    if "truth" in m.inputs:
        inputs["world"] = WORLD_DIR
    return inputs


# ---- mix (rules/mix.smk) -------------------------------------------------------

def mix_inputs(wildcards):
    mix = lookup("mixes", wildcards.mix)
    return {"index": POOL_INDEX, "scores": [f"results/scores/{i.split(':')[0]}.parquet" for i in mix["inputs"]]}


# ---- sample (rules/sample.smk) ----------------------------------------------------

def recipe_score_file(recipe):
    if "mix" in recipe:
        return f"results/mixes/{recipe['mix']}.parquet"
    if "score" in recipe:
        return f"results/scores/{recipe['score']}.parquet"
    return []


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
