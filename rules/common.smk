# Config access, path helpers, wildcard constraints and resource helpers shared by all rules.
# Everything here runs at parse time, which the Slurm executor repeats in every job: keep it cheap.

import math
from pathlib import Path

import yaml

REPO = Path(workflow.basedir)


# config/recipes and config/tables are merged into config, and the merged config validated and
# cross-checked, by clipcurate.config_check.prepare (called from the Snakefile before this file).
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
# the pool's webdataset shards: downloaded here, or shards a user already has (pool.shards_dir)
POOL_SHARDS = config["pool"].get("shards_dir") or "results/pool/shards"
POOL_INDEX = "results/pool/index.parquet"




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

_CODE_VERSIONS = {}


def code_version(script):
    """Hash of workflow/scripts/<script>.py and every clipcurate module it can reach (its import
    closure, found statically by clipcurate.codeversion); computed once per script and parse."""
    if script not in _CODE_VERSIONS:
        from clipcurate.codeversion import code_version as closure_version

        _CODE_VERSIONS[script] = closure_version(REPO / "workflow" / "scripts" / f"{script}.py", REPO / "src")
    return _CODE_VERSIONS[script]


# ---- resources ------------------------------------------------------------------------------


# Site settings of the Slurm profile, in one place: config `slurm: {gpu: {...}, cpu: {...}}` gives
# the partition, account and QoS of GPU jobs and of CPU jobs; they become the executor plugin's
# `slurm_partition`, `slurm_account` and `qos` resources of every rule (other executors ignore them).
SLURM_SITE_KEYS = {"partition": "slurm_partition", "account": "slurm_account", "qos": "qos"}


def slurm_site(kind):
    """Resources naming the site's partition/account/QoS for `kind` ("gpu" or "cpu") jobs."""
    site = (config.get("slurm") or {}).get(kind) or {}
    return {resource: site[key] for key, resource in SLURM_SITE_KEYS.items() if site.get(key)}


def gpu_jobs():
    """False on the tiny world, which runs every GPU step on CPU."""
    return SCALE["name"] != "tiny"


def cpu_resources(mem_mb, runtime):
    """Resources of a CPU step: memory, wall time and the site's CPU partition/account."""
    return {"mem_mb": mem_mb, "runtime": runtime, **slurm_site("cpu")}


def gpu_resources(mem_mb, runtime, gpus=1):
    """Resources of a GPU step, requested the way the Slurm executor plugin documents:
    `gpu` GPUs (--gpus), `cpus_per_gpu` CPUs for each (--cpus-per-gpu; scale.job_threads: the
    threads of one model process, loader workers included), and one task (`tasks_per_gpu: 0`
    drops --ntasks-per-gpu): a multi-GPU training is one process tree started by torchrun, not one
    Slurm task per GPU. A training on 8 GPUs thus asks for 8 x job_threads CPUs.
    On the tiny world the GPU request is dropped and the job is a CPU job."""
    if not gpu_jobs():
        return cpu_resources(mem_mb, runtime)
    return {
        "mem_mb": mem_mb,
        "runtime": runtime,
        "gpu": gpus,
        "cpus_per_gpu": JOB_THREADS,
        "tasks_per_gpu": 0,
        **slurm_site("gpu"),
    }


# ---- pool (rules/pool.smk) ------------------------------------------------------

def metadata_dir(wildcards=None):
    if config["pool"]["source"] == "world":
        return "results/pool/metadata"
    return config["pool"]["metadata_dir"]


# Real scale (pool.source: datacomp): no rule of the tiny world (world, pool_metadata, oracle
# scores that read its truth) is ever planned; see rules/world.smk, rules/pool.smk, table_rows().
REAL_SCALE = config["pool"]["source"] == "datacomp"
METADATA_ROWS = "results/pool/metadata_rows.parquet"


def precomputed(model):
    """'b32' or 'l14' when the model's pool embeddings come from DataComp's npz files, else None."""
    return lookup("models", model).get("precomputed")


def check_pool_config():
    """Cross-key checks of the pool, download and evaluation sections; each error names the key."""
    pool = config["pool"]
    using = sorted(n for n, m in config["models"].items() if m.get("precomputed"))
    if using and not REAL_SCALE:
        raise ValueError(
            f"config: models.{using[0]}.precomputed: DataComp's npz embeddings exist only with "
            f"pool.source: datacomp (pool.source is {pool['source']!r})"
        )
    if using and not pool.get("metadata_dir"):
        raise ValueError(
            f"config: models.{using[0]}.precomputed needs pool.metadata_dir (the metadata parquet and "
            "npz files of the pool)"
        )
    if REAL_SCALE and not pool.get("shards_dir") and not pool.get("metadata_dir"):
        raise ValueError("config: pool.source datacomp needs pool.metadata_dir (to download) or pool.shards_dir (shards you have)")
    if REAL_SCALE and not config["evaluation"].get("data_root"):
        raise ValueError(
            "config: evaluation.data_root must name the directory of the suite's pre-downloaded evaluation "
            "sets when pool.source is datacomp (the tiny world's eval tasks are not built at real scale)"
        )


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


def score_code(wildcards, script):
    """The code version of a score job: its script's import closure with the registry's plug-ins
    reduced to the one method it runs, so adding or editing another method reruns nothing here."""
    from clipcurate.scores.plan import code_version as score_code_version

    return score_code_version(score_plan(wildcards.score).method, REPO / "workflow" / "scripts" / f"{script}.py", REPO / "src")


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
    """The suite file, relative to the repository (for messages; never a param)."""
    return f"config/tasks/{config['evaluation']['suite']}.yaml"


_SUITE = {}


def suite_content():
    """The evaluation suite's content, passed to rules as a param: it holds nothing machine-specific
    (an absolute path would rerun every evaluation in a moved checkout or another --directory),
    and an edited suite reruns what depends on it. Validated by the rule's script (load_suite)."""
    if not _SUITE:
        path = REPO / suite_path()
        if not path.is_file():
            raise ValueError(f"config: evaluation.suite: no suite file {suite_path()}")
        _SUITE.update(yaml.safe_load(path.read_text()) or {})
    return _SUITE


def eval_root():
    root = config["evaluation"].get("data_root")
    return root if root else f"{WORLD_DIR}/eval"


def eval_input():
    """The world directory (eval sets live inside it) or the user's pre-downloaded eval sets
    (required at real scale: check_pool_config)."""
    return config["evaluation"].get("data_root") or WORLD_DIR


# ---- embed (rules/embed.smk) ---------------------------------------------------------


def embed_inputs(wildcards):
    """A model's images (index + shards + its weights), or for ``precomputed`` models the metadata
    row map and the metadata directory holding DataComp's npz embeddings."""
    if precomputed(wildcards.model):
        return {"rows": METADATA_ROWS, "metadata": metadata_dir()}
    return {"index": POOL_INDEX, "shards": POOL_SHARDS, "model": model_files(wildcards.model)}


def embed_spec(wildcards):
    kind = precomputed(wildcards.model)
    return {"precomputed": kind} if kind else model_spec(wildcards.model)


def embed_resources(mem_mb, runtime):
    """Resources of an embed job: a GPU job, or a CPU job (no GPU, the CPU partition) for a model
    whose embeddings are read from DataComp's npz files. Each value is a function of the
    wildcards, so one rule serves both kinds of model."""
    gpu, cpu = gpu_resources(mem_mb, runtime), cpu_resources(mem_mb, runtime)

    def value(key):
        blank = "" if isinstance(gpu.get(key, cpu.get(key)), str) else 0
        return lambda w: (cpu if precomputed(w.model) else gpu).get(key, blank)

    return {key: value(key) for key in {**gpu, **cpu}}


# ---- tables (rules/tables.smk) ----------------------------------------------------

def recipe_oracles(name):
    """The oracle scores a recipe uses (methods that read the tiny world's ground truth), directly,
    through its mix, or through the score inputs of the scores it uses. Read from the methods'
    declarations, not from a plan: at real scale an oracle cannot be planned at all."""
    from clipcurate.scores import get
    from clipcurate.scores.inputs import Scores

    recipe = lookup("recipes", name)
    todo = [recipe["score"]] if "score" in recipe else []
    if "mix" in recipe:
        todo += [inp.split(":")[0] for inp in mix_plan(recipe["mix"]).inputs]
    seen, oracles = set(), set()
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        entry = lookup("scores", s)
        method = get(entry["method"])
        if method.oracle:
            oracles.add(s)
        for kind in method.inputs.values():
            if isinstance(kind, Scores):
                refs = entry.get(kind.key) or []
                todo += [r.split(":")[0] for r in ([refs] if isinstance(refs, str) else refs)]
    return sorted(oracles)


def table_rows(name):
    """(rows kept, rows dropped) of a table: at real scale rows whose recipe uses an oracle are dropped."""
    rows = lookup("tables", name)["rows"]
    if not REAL_SCALE:
        return list(rows), []
    dropped = [r for r in rows if recipe_oracles(r["recipe"])]
    return [r for r in rows if r not in dropped], dropped


def table_params(wildcards):
    """The table config with only the rows that are built (table_dropped lists the others)."""
    return {**lookup("tables", wildcards.table), "rows": table_rows(wildcards.table)[0]}


def table_dropped(wildcards):
    return [
        {"label": r["label"], "recipe": r["recipe"], "oracles": recipe_oracles(r["recipe"])}
        for r in table_rows(wildcards.table)[1]
    ]


def table_inputs(wildcards):
    recipes = [row["recipe"] for row in table_rows(wildcards.table)[0]]
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
    from clipcurate.dfn import uses_pool

    if uses_pool(m["train"]):
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
