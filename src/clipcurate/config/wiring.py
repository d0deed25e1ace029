"""Everything the rules ask of the config: paths, input functions, params and resources.

``rules/common.smk`` builds one :class:`Wiring` from the checked config (after
:func:`clipcurate.config.check.prepare`) and binds its attributes to the names the rules use
(``score_inputs``, ``model_spec``, ``gpu_resources`` ...), so the ``.smk`` files only wire and all
the resolution is here, tested without Snakemake (tests/unit/test_wiring.py). Input functions take
Snakemake's ``wildcards`` (any object with the wildcard names as attributes).

Everything runs at parse time, which the Slurm executor repeats in every job: keep it cheap (no
torch, no data files; score and mix plans are cached per name).

Paths are relative to the Snakemake working directory (the workflow's file layout).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import yaml

from clipcurate.config.claims_wiring import ClaimsWiring
from clipcurate.config.report_wiring import ReportWiring
from clipcurate.config.expand import quality_points
from clipcurate.config.trainer_wiring import TrainerWiring, _regex

WORLD_DIR = "resources/world"
POOL_INDEX = "results/pool/index.parquet"
METADATA_ROWS = "results/pool/metadata_rows.parquet"
#: Site settings of the Slurm profile: config ``slurm: {gpu: {...}, cpu: {...}}`` gives the
#: partition, account and QoS of GPU jobs and of CPU jobs; they become the executor plugin's
#: ``slurm_partition``, ``slurm_account`` and ``qos`` resources (other executors ignore them).
SLURM_SITE_KEYS = {"partition": "slurm_partition", "account": "slurm_account", "qos": "qos"}


class Wiring(TrainerWiring, ClaimsWiring, ReportWiring):
    """The rules' view of one checked config (``repo``: the workflow's checkout); the trainer rules'
    part is :class:`~clipcurate.config.trainer_wiring.TrainerWiring`, the claims target's
    :class:`~clipcurate.config.claims_wiring.ClaimsWiring`, the tiny world's reports'
    :class:`~clipcurate.config.report_wiring.ReportWiring`."""

    def __init__(self, config: Mapping, repo: str | Path):
        self.config = config
        self._score_resources: dict = {}
        self.repo = Path(repo)
        self.scale = config["scale"]
        self.seed = int(config["seed"])
        # CPU threads of a model job (embed, train, evaluate, FLYT): torch threads and data-loading
        # workers. On the tiny world one thread is fastest and lets two such jobs run side by side.
        self.job_threads = int(self.scale.get("job_threads", 1))
        self.real_scale = config["pool"]["source"] == "datacomp"
        # the pool's webdataset shards: downloaded here, or shards a user already has (pool.shards_dir)
        self.pool_shards = config["pool"].get("shards_dir") or "results/pool/shards"
        self.chunks = [f"{c:05d}" for c in range(math.ceil(self.num_shards() / self.scale["chunk_shards"]))]
        self.dfn_quality_points = quality_points(config)
        self._code_versions: dict[str, str] = {}
        self._suite: dict = {}
        self.score_plan = lru_cache(maxsize=None)(self._score_plan)
        self.mix_plan = lru_cache(maxsize=None)(self._mix_plan)

    # ---- config access ------------------------------------------------------------------

    def lookup(self, kind: str, name: str):
        """config[kind][name], or an error that lists the known names."""
        entries = self.config[kind]
        if name not in entries:
            raise ValueError(f"unknown {kind[:-1]} {name!r}; known {kind}: {', '.join(sorted(entries))}")
        return entries[name]

    # ---- pool layout: chunks are planned from config alone, so a dry run needs no data ----

    def num_shards(self) -> int:
        pool, scale = self.config["pool"], self.scale
        if pool["source"] == "world":
            return math.ceil(self.config["world"]["pool_size"] / scale["samples_per_shard"])
        if pool.get("shard_list"):
            try:
                with open(pool["shard_list"]) as f:
                    return sum(1 for line in f if line.strip())
            except OSError as e:
                from clipcurate.config.errors import ConfigError

                raise ConfigError(f"config: pool.shard_list: cannot read {pool['shard_list']} ({e.strerror or e})") from None
        if pool.get("num_shards"):
            return int(pool["num_shards"])
        return math.ceil(scale["pool_size"] / scale["samples_per_shard"])

    def metadata_dir(self, wildcards=None) -> str:
        if self.config["pool"]["source"] == "world":
            return "results/pool/metadata"
        return self.config["pool"]["metadata_dir"]

    def precomputed(self, model: str):
        """'b32' or 'l14' when the model's pool embeddings come from DataComp's npz files, else None."""
        return self.lookup("models", model).get("precomputed")

    # ---- models ---------------------------------------------------------------------------

    def model_weights(self, name: str) -> str:
        """Where the workflow writes the weights of a model it trains."""
        return f"results/models/{name}/open_clip_pytorch_model.bin"

    def model_spec(self, name: str) -> dict:
        """The {arch, pretrained} spec of a configured model; trained ones point at their results."""
        m = self.lookup("models", name)
        if m.get("train"):
            return {"arch": m["arch"], "pretrained": self.model_weights(name)}
        return {"arch": m["arch"], "pretrained": m.get("pretrained")}

    def model_files(self, name: str) -> list[str]:
        """Extra inputs for using a model: its weights when the workflow trains them (a reference
        model, or a ``pretrained`` path under results/, e.g. the model trained on the unfiltered pool)."""
        m = self.lookup("models", name)
        if m.get("train"):
            return [self.model_weights(name)]
        if str(m.get("pretrained") or "").startswith("results/"):
            return [m["pretrained"]]
        return []

    def trained_model_cfg(self, wildcards) -> dict:
        m = self.lookup("models", wildcards.model)
        if not m.get("train"):
            raise ValueError(f"model {wildcards.model!r} has no `train` section: it uses pretrained={m.get('pretrained')!r}")
        return m

    # ---- code versions: Snakemake does not track imported modules, so rules pass a hash ------

    def code_version(self, script: str, plugins=()) -> str:
        """Hash of workflow/scripts/<script>.py and every clipcurate module it can reach (its import
        closure, found statically by clipcurate.core.codeversion), with the registries' plug-ins (score
        methods, image variants) reduced to those the job runs (``plugins``: their module names);
        computed once per script, plug-ins and parse."""
        key = (script, tuple(sorted(plugins)))
        if key not in self._code_versions:
            from clipcurate.core.codeversion import code_version as closure_version

            self._code_versions[key] = closure_version(
                self.repo / "workflow" / "scripts" / f"{script}.py", self.repo / "src", plugins=plugins)
        return self._code_versions[key]

    # ---- resources ----------------------------------------------------------------------

    def slurm_site(self, kind: str) -> dict:
        """Resources naming the site's partition/account/QoS for ``kind`` ("gpu" or "cpu") jobs."""
        site = (self.config.get("slurm") or {}).get(kind) or {}
        return {resource: site[key] for key, resource in SLURM_SITE_KEYS.items() if site.get(key)}

    def gpu_jobs(self) -> bool:
        """False on the tiny world, which runs every GPU step on CPU."""
        return self.scale["name"] != "tiny"

    def cpu_resources(self, mem_mb, runtime) -> dict:
        """Resources of a CPU step: memory, wall time and the site's CPU partition/account."""
        return {"mem_mb": mem_mb, "runtime": runtime, **self.slurm_site("cpu")}

    def gpu_resources(self, mem_mb, runtime, gpus=1) -> dict:
        """Resources of a GPU step, requested the way the Slurm executor plugin documents:
        ``gpu`` GPUs (--gpus), ``cpus_per_gpu`` CPUs for each (--cpus-per-gpu; scale.job_threads: the
        threads of one model process, loader workers included), and one task (``tasks_per_gpu: 0``
        drops --ntasks-per-gpu): a multi-GPU training is one process tree started by torchrun, not
        one Slurm task per GPU. A training on 8 GPUs thus asks for 8 x job_threads CPUs.
        On the tiny world the GPU request is dropped and the job is a CPU job."""
        if not self.gpu_jobs():
            return self.cpu_resources(mem_mb, runtime)
        return {
            "mem_mb": mem_mb,
            "runtime": runtime,
            "gpu": gpus,
            "cpus_per_gpu": self.job_threads,
            "tasks_per_gpu": 0,
            **self.slurm_site("gpu"),
        }

    def embed_resources(self, mem_mb, runtime) -> dict:
        """Resources of an embed job: a GPU job, or a CPU job (no GPU, the CPU partition) for a model
        whose embeddings are read from DataComp's npz files. Each value is a function of the
        wildcards, so one rule serves both kinds of model."""
        gpu, cpu = self.gpu_resources(mem_mb, runtime), self.cpu_resources(mem_mb, runtime)

        def value(key):
            blank = "" if isinstance(gpu.get(key, cpu.get(key)), str) else 0
            return lambda w: (cpu if self.precomputed(w.model) else gpu).get(key, blank)

        return {key: value(key) for key in {**gpu, **cpu}}

    # ---- scores (clipcurate.scores.plan) ------------------------------------------------

    def _score_plan(self, name: str):
        """scores.<name> resolved into its method, inputs and params (PlanError names the key)."""
        from clipcurate.scores.plan import plan_score

        return plan_score(self.config, name)

    def reported_score_names(self) -> str:
        """Wildcard regex matching the scores whose method writes a report (imports)."""
        from clipcurate.scores.plan import score_names

        return _regex(score_names(self.config, report=True))

    def score_stage_inputs(self, stage: str):
        """Input function of a score stage's jobs (prepare, fit, apply, group, gather): the files
        :func:`clipcurate.scores.stages.stage_files` derives from the method's declaration."""

        def inputs(wildcards):
            from clipcurate.scores.stages import stage_files

            return stage_files(self.score_plan(wildcards.score), stage, chunk=getattr(wildcards, "chunk", None),
                               chunks=self.chunks, shards=self.pool_shards)

        return inputs

    def _score_stage_resources(self, score: str, stage: str):
        """:func:`clipcurate.scores.stages.config_resources`, once per score and stage (the config is fixed)."""
        from clipcurate.scores.stages import config_resources

        key = (score, stage)
        if key not in self._score_resources:
            self._score_resources[key] = config_resources(self.config, score, stage)
        return self._score_resources[key]

    def score_threads(self, stage: str):
        """A score stage's threads: its method's declared resources, or scores.<name>.resources.<stage>."""
        return lambda wildcards: self._score_stage_resources(wildcards.score, stage).threads

    def score_resources(self, stage: str) -> dict:
        """A score stage's resources (memory, runtime, GPUs and the site's partition for its kind), from
        the method's declaration overridden by scores.<name>.resources.<stage>; keys a job does not use
        are None, which Snakemake drops."""
        from clipcurate.scores.stages import slurm_resources

        def value(key):
            return lambda wildcards: slurm_resources(self._score_stage_resources(wildcards.score, stage), self.gpu_jobs(),
                                                     self.slurm_site("cpu"), self.slurm_site("gpu")).get(key)

        keys = ["mem_mb", "runtime", "gpu", "cpus_per_gpu", "tasks_per_gpu", *SLURM_SITE_KEYS.values()]
        return {k: value(k) for k in keys}

    def score_code(self, wildcards, script: str) -> str:
        """The code version of a score job: its script's import closure with the registry's plug-ins
        reduced to the one method it runs, so adding or editing another method reruns nothing here."""
        from clipcurate.scores.plan import code_version as score_code_version

        scripts = self.repo / "workflow" / "scripts"
        return score_code_version(self.score_plan(wildcards.score).method, scripts / f"{script}.py", self.repo / "src")

    def reference_set_dir(self, wildcards) -> str:
        from clipcurate.scores.plan import reference_sets

        return reference_sets(self.config)[wildcards.set]

    def reference_set_input(self, wildcards) -> str:
        from clipcurate.scores.plan import reference_set_input

        return reference_set_input(self.config, wildcards.set)

    def score_specs(self, inputs) -> list:
        """(input name, score file, column) for score references written ``name`` or ``name:column``."""
        from clipcurate.scores.plan import score_specs

        return score_specs(inputs)

    # ---- mixes (clipcurate.scores.plan) ---------------------------------------------------

    def _mix_plan(self, name: str):
        from clipcurate.mix.plan import plan_mix

        return plan_mix(self.config, name)

    def mix_inputs(self, wildcards) -> dict:
        from clipcurate.mix.plan import mix_files

        return mix_files(self.mix_plan(wildcards.mix))

    # ---- samples and training ---------------------------------------------------------------

    def recipe_score_file(self, recipe: Mapping):
        if "mix" in recipe:
            return f"results/mixes/{recipe['mix']}.parquet"
        if "score" in recipe:
            return f"results/scores/{recipe['score']}.parquet"
        return []

    def recipe_within_file(self, recipe: Mapping):
        """The score file of a recipe's sub-pool (``within: <score>:keep``), or no input."""
        if recipe.get("within"):
            return f"results/scores/{recipe['within'].partition(':')[0]}.parquet"
        return []

    def recipe_scale(self, recipe: Mapping) -> dict:
        """The scale settings a recipe's subset trains with (its ``train`` overrides applied)."""
        from clipcurate.sample.within import recipe_scale

        return recipe_scale(recipe, self.scale)

    def recipe_n_target(self, recipe: Mapping) -> int:
        """Its sampler's default N: the samples its subset trains on."""
        return int(self.recipe_scale(recipe)["samples_seen"])

    def within_recipes(self) -> list[str]:
        """Recipes sampled within a sub-pool (``within``), by rule ``sample_within``; sorted."""
        return sorted(n for n, r in self.config["recipes"].items() if r.get("within"))

    def sample_constraints(self) -> dict[str, str]:
        """Wildcard regexes of ``{recipe}`` in the two sample rules: ``sample_within`` matches exactly
        the recipes with ``within``, ``sample`` every other name (a negative lookahead over the same
        names, followed by a subset file's suffix). Neither matches a name when there is none."""
        import re

        names = self.within_recipes()
        if not names:
            return {"within": "(?!)", "plain": ".+"}
        alts = "|".join(re.escape(n) for n in names)
        return {"within": f"(?:{alts})",
                "plain": rf"(?!(?:{alts})\.(?:parquet|npy|stats\.json|hist\.png)$).+"}

    def extra_reference_dirs(self, recipe: Mapping) -> list[str]:
        """Folders of webdataset shards a recipe adds to its training set (``extra_reference``): a
        world reference set by name (e.g. ``downstream``), or a folder path at real scale."""
        return [e if Path(e).name != e else f"{WORLD_DIR}/reference/{e}" for e in recipe.get("extra_reference") or []]

    def extra_reference_inputs(self, recipe: Mapping) -> list[str]:
        """The inputs they need: the world itself for its sets (a subfolder cannot be an input), else the folder."""
        return sorted({WORLD_DIR if Path(e).name == e else e for e in recipe.get("extra_reference") or []})

    # ---- evaluation ---------------------------------------------------------------------

    def suite_path(self) -> str:
        """The suite file, relative to the repository (for messages; never a param)."""
        return f"config/tasks/{self.config['evaluation']['suite']}.yaml"

    def suite_content(self) -> dict:
        """The evaluation suite's content, passed to rules as a param: it holds nothing machine-specific
        (an absolute path would rerun every evaluation in a moved checkout or another --directory),
        and an edited suite reruns what depends on it. Validated by the rule's script (load_suite)."""
        if not self._suite:
            path = self.repo / self.suite_path()
            if not path.is_file():
                raise ValueError(f"config: evaluation.suite: no suite file {self.suite_path()}")
            self._suite.update(yaml.safe_load(path.read_text()) or {})
        return self._suite

    def eval_root(self) -> str:
        return self.config["evaluation"].get("data_root") or f"{WORLD_DIR}/eval"

    def eval_input(self) -> str:
        """The world directory (eval sets live inside it) or the user's pre-downloaded eval sets
        (required at real scale: :func:`clipcurate.config.checks.check_pool_config`)."""
        return self.config["evaluation"].get("data_root") or WORLD_DIR

    # ---- embeddings ---------------------------------------------------------------------

    def embed_inputs(self, wildcards) -> dict:
        """A model's images (index + shards + its weights), or for ``precomputed`` models the metadata
        row map and the metadata directory holding DataComp's npz embeddings."""
        if self.precomputed(wildcards.model):
            return {"rows": METADATA_ROWS, "metadata": self.metadata_dir()}
        return {"index": POOL_INDEX, "shards": self.pool_shards, "model": self.model_files(wildcards.model)}

    def variant_plan(self, name: str) -> dict:
        """An image variant resolved against the config (:func:`clipcurate.embed.variants.plan_variant`):
        name, params and artifact paths; the embed job's ``variant`` param."""
        from clipcurate.embed import variants

        return variants.plan_variant(self.config, name)

    def variant_inputs(self, wildcards) -> dict:
        """A variant's embed job reads the images, the model and the files the variant declares."""
        return {"index": POOL_INDEX, "shards": self.pool_shards, "model": self.model_files(wildcards.model),
                **self.variant_plan(wildcards.variant)["artifacts"]}

    def variant_code(self, name: str) -> str:
        """The embed code version of one variant: only its own module among the variants."""
        from clipcurate.embed import variants

        return self.code_version("embed", plugins=variants.code_modules(name))

    @staticmethod
    def variant_names() -> str:
        """The ``{variant}`` wildcard constraint: every available variant but plain, from the registry."""
        from clipcurate.embed import variants

        return variants.wildcard_regex()

    def embed_spec(self, wildcards) -> dict:
        kind = self.precomputed(wildcards.model)
        return {"precomputed": kind} if kind else self.model_spec(wildcards.model)

    # ---- tables -------------------------------------------------------------------------

    def recipe_oracles(self, name: str) -> list[str]:
        """The oracle scores a recipe uses (methods that read the tiny world's ground truth), directly,
        through its mix, or through what the scores it uses are computed from (:meth:`dependencies`)."""
        return sorted(self.dependencies([name])["oracles"])

    def table_rows(self, name: str) -> tuple[list, list]:
        """(rows kept, rows dropped) of a table: at real scale rows whose recipe uses an oracle are dropped."""
        rows = self.lookup("tables", name)["rows"]
        if not self.real_scale:
            return list(rows), []
        dropped = [r for r in rows if self.recipe_oracles(r["recipe"])]
        return [r for r in rows if r not in dropped], dropped

    def table_params(self, wildcards) -> dict:
        """The table config with only the rows that are built (table_dropped lists the others)."""
        return {**self.lookup("tables", wildcards.table), "rows": self.table_rows(wildcards.table)[0]}

    def table_dropped(self, wildcards) -> list[dict]:
        return [
            {"label": r["label"], "recipe": r["recipe"], "oracles": self.recipe_oracles(r["recipe"])}
            for r in self.table_rows(wildcards.table)[1]
        ]

    def table_inputs(self, wildcards) -> dict:
        recipes = [row["recipe"] for row in self.table_rows(wildcards.table)[0]]
        return {
            "evals": [f"results/eval/{r}.jsonl" for r in recipes],
            "subsets": [f"results/subsets/{r}.parquet" for r in recipes],
        }

    # ---- report captions and figures (rules/report_common.smk, rules/tables.smk) ---------

    def world_truth_input(self, wildcards=None):
        """The world directory (its truth.parquet gives each sample's kind) where the pool is the world's."""
        return [] if self.real_scale else WORLD_DIR

    def describe_score(self, name: str) -> str:
        """One line saying how a score is computed (its method and resolved inputs), for captions."""
        plan = self.score_plan(name)
        parts = [f"method {plan.method}"]
        for spec in plan.inputs.values():
            if spec["kind"] == "embeddings":
                parts.append(f"embeddings of model {spec['model']}" + (f" ({spec['variant']} images)" if spec["variant"] != "plain" else ""))
            elif spec["kind"] == "reference":
                parts.append(f"reference set {spec['set']} by model {spec['model']}")
            elif spec["kind"] == "metadata":
                parts.append(f"metadata {', '.join(spec['columns'])}")
            elif spec["kind"] == "images":
                parts.append("the pool's images")
            elif spec["kind"] == "reference_images":
                parts.append(f"reference set {spec['set']}'s images")
            elif spec["kind"] == "scores":
                parts.append(f"scores {', '.join(ref[0] for ref in spec['refs'])}")
            elif spec["kind"] == "artifact":
                parts.append(f"trained {spec['path']}")
            else:
                parts.append(spec["kind"])
        if plan.params:
            parts.append(f"params {plan.params}")
        return ", ".join(parts)

    def describe_recipe(self, name: str) -> str:
        """One line saying how a recipe selects its subset (for captions and table notes)."""
        r = self.lookup("recipes", name)
        sample = dict(r.get("sample") or {})
        method = sample.pop("method", "?")
        sampler = f"{method}({', '.join(f'{k}={v}' for k, v in sample.items())})"
        if r.get("within"):  # a sub-pool and its own budget (FLYT Table 4); nothing added otherwise
            sampler += f" within {r['within']}"
        if r.get("train"):
            sampler += f", trained with {', '.join(f'{k}={v}' for k, v in r['train'].items())}"
        if "mix" in r:
            m = self.mix_plan(r["mix"])
            return f"mix {r['mix']} ({m.method} of {', '.join(m.inputs)}) -> sampler {sampler}"
        if "score" in r:
            return f"score {r['score']} ({self.describe_score(r['score'])}) -> sampler {sampler}"
        return f"sampler {sampler}"

    def dependencies(self, recipes) -> dict[str, set]:
        """What the recipes' subsets are computed from, walking score -> (scores, models, trained
        artifacts) -> (their scores and models) from the methods' and trainers' declarations and
        the config entries, never from a plan (at real scale an oracle cannot be planned):
        ``{"scores", "oracles", "models", "artifacts"}``; an artifact is (trainer name, entry name)."""
        from clipcurate.train import trainers
        from clipcurate.scores import get
        from clipcurate.scores.inputs import Artifact, Embeddings, Reference, Scores, Truth

        out: dict[str, set] = {"scores": set(), "oracles": set(), "models": set(), "artifacts": set()}
        todo_scores: list[str] = []
        todo_artifacts: list = []

        def add_score(ref) -> None:
            name = str(ref).split(":")[0]
            if name not in out["scores"]:
                out["scores"].add(name)
                todo_scores.append(name)

        def add_artifact(path: str) -> None:
            found = trainers.artifact_of(path)
            if found is not None and (found[0].name, found[1]) not in out["artifacts"]:
                out["artifacts"].add((found[0].name, found[1]))
                todo_artifacts.append(found)

        for name in recipes:
            r = self.lookup("recipes", name)
            if "score" in r:
                add_score(r["score"])
            if r.get("within"):
                add_score(r["within"])
            if "mix" in r:
                m = self.mix_plan(r["mix"])
                for inp in m.inputs:
                    add_score(inp)
                for path in m.artifacts.values():
                    add_artifact(path)
        while todo_scores or todo_artifacts:
            while todo_scores:
                score = todo_scores.pop()
                entry = self.lookup("scores", score)
                for kind in get(entry["method"]).inputs.values():
                    if isinstance(kind, Truth):
                        out["oracles"].add(score)
                    elif isinstance(kind, (Embeddings, Reference)) and kind.model_key in entry:
                        out["models"].add(entry[kind.model_key])
                    elif isinstance(kind, Artifact):
                        try:
                            add_artifact(kind.path.format(**entry))
                        except (KeyError, IndexError):  # a field the entry lacks: the planner's error
                            pass
                    elif isinstance(kind, Scores):
                        refs = entry.get(kind.key) or []
                        for ref in [refs] if isinstance(refs, str) else refs:
                            add_score(ref)
            while todo_artifacts:
                t, name = todo_artifacts.pop()
                entry = t.entry(self.config, name)
                for kind in t.inputs.values():
                    if kind.wanted(entry):
                        out["models"].update(getattr(kind, "models", lambda e: [])(entry))
                        for ref in getattr(kind, "scores", lambda e: [])(entry):
                            add_score(ref)
        return out

    def table_figures(self, table_name: str) -> dict:
        """The report's figures for one table: the pool, every score, trained artifact and trained
        model its rows use (:meth:`dependencies`), and each row's training curve and per-task
        evaluation (all already in its DAG). A trainer with a ``figure`` gives one per entry used."""
        from clipcurate.train import trainers

        recipes = [row["recipe"] for row in self.table_rows(table_name)[0]]
        deps = self.dependencies(recipes)
        scores, artifacts, models = deps["scores"], set(deps["artifacts"]), deps["models"]
        models_trainer = trainers.producer("results/models/{model}/open_clip_pytorch_model.bin")
        artifacts.update((models_trainer.name, m) for m in models if m in models_trainer.entries(self.config))
        figures = sorted({trainers.get(t).figure.format(**{trainers.get(t).wildcard: n}) for t, n in artifacts if trainers.get(t).figure})
        return {
            "pool": "results/figures/pool/download.png",
            "scores": [f"results/figures/scores/{s}.png" for s in sorted(scores)],
            "trained": figures,
            "train": [f"results/figures/train/{r}.png" for r in recipes],
            "eval": [f"results/figures/eval/{r}.html" for r in recipes],
            # the tiny world knows each sample's kind: how clean each row's subset is
            "quality": [f"results/figures/quality/{table_name}.png"] if not self.real_scale else [],
        }

    def table_figure_inputs(self, wildcards) -> dict:
        """The figures of a table as named inputs (fig_pool, fig_scores, ...) of rule table_figures;
        the table itself does not wait for them."""
        return {f"fig_{k}": v for k, v in self.table_figures(wildcards.table).items()}


def parse_time_check(config: Mapping, repo: str | Path) -> Wiring:
    """What parsing the Snakefile computes from a checked config beyond :func:`prepare`: the
    :class:`Wiring` (chunks from the pool layout, the suite, the trainer rules' wildcard sets).
    ``python -m clipcurate.config.check`` runs it too, so that it refuses what the Snakefile refuses."""
    w = Wiring(config, repo)
    w.suite_content()
    return w

