"""Planning scores and mixes from the config: resolution and cross-checks, before any job runs.

:func:`plan_score` turns a score's config entry (``scores.<name>``) and its method's declared inputs
(:mod:`clipcurate.scores.inputs`) into a :class:`ScorePlan`: the concrete models, variants, reference
sets, artifact paths and score files it reads, and its parameters (the method's defaults overridden
by the entry's ``params:``). :func:`score_files` gives the rule's input files for one chunk or for the
whole pool; the plan's JSON form is what reaches the rule's ``params:`` (a changed input or parameter
reruns exactly that score), and :func:`code_version` hashes the code that computes it.

:func:`clipcurate.mix.plan.plan_mix` does the same for a mix (``mixes.<name>``), and
:func:`clipcurate.mix.plan.check_scores` runs every check of scores and mixes at workflow
start (they live apart so that score jobs do not depend on the mixing code). An artifact a trainer
writes (:mod:`clipcurate.train.trainers`) is checked against that trainer's entries. Every error names the
config key (``scores.<name>.<key>``, ``mixes.<name>.<key>``) and what was expected.

Paths are relative to the Snakemake working directory (the workflow's file layout).
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from clipcurate.config.errors import ConfigError
from clipcurate.scores import Method, UnknownMethodError, get
from clipcurate.scores.inputs import MODALITIES, Artifact, Embeddings, Images, Metadata, Reference, ReferenceImages, Scores, Truth

POOL_INDEX = "results/pool/index.parquet"
POOL_SHARDS = "results/pool/shards"
WORLD_DIR = "resources/world"
#: Reference sets the tiny world generates (``resources/world/reference/<set>``).
WORLD_REFERENCE_SETS = ("pretrain", "hq", "downstream", "retrieval_train")
#: Keys of a score entry that are not input names.
SCORE_OWN_KEYS = ("method", "params", "label", "resources")


class PlanError(ConfigError):
    """A score or mix entry of the config cannot be planned; the message names the key (a
    :class:`~clipcurate.config.check.ConfigError`, so every config error is caught as one)."""


def embeddings_path(model: str, variant: str, chunk: str) -> str:
    """Pool embeddings of one chunk; plain ones keep the short path other stages use."""
    if variant == "plain":
        return f"results/embeddings/{model}/{chunk}.parquet"
    return f"results/embeddings/{model}/{variant}/{chunk}.parquet"


def reference_embeddings_path(model: str, ref_set: str) -> str:
    return f"results/reference_embeddings/{model}/{ref_set}.parquet"


def score_path(name: str) -> str:
    return f"results/scores/{name}.parquet"


def parse_score_ref(ref: str) -> tuple[str, str]:
    """``name`` or ``name:column`` -> (name, column); the column defaults to ``score``."""
    name, _, column = str(ref).partition(":")
    return name, column or "score"


def score_specs(refs: Sequence[str]) -> list[tuple[str, str, str]]:
    """(reference as written, score file, column) for score references ``name`` / ``name:column``."""
    return [(r, score_path(parse_score_ref(r)[0]), parse_score_ref(r)[1]) for r in refs]


def reference_sets(config: Mapping) -> dict[str, str]:
    """Reference set name -> directory of its webdataset shards: the world's sets (with the world as
    pool source) and the user's ``reference_sets:`` (which win)."""
    sets = {}
    if config["pool"]["source"] == "world":
        sets.update({s: f"{WORLD_DIR}/reference/{s}" for s in WORLD_REFERENCE_SETS})
    sets.update(config.get("reference_sets") or {})
    return sets


def reference_set_input(config: Mapping, ref_set: str) -> str:
    """What the reference-embedding rule depends on: the user's directory, or the whole world
    (a subdirectory of the world cannot be an input of its own)."""
    user = config.get("reference_sets") or {}
    if ref_set in user:
        return user[ref_set]
    if ref_set not in reference_sets(config):
        raise PlanError(f"config: unknown reference set {ref_set!r}; known: {sorted(reference_sets(config))}")
    return WORLD_DIR


# --------------------------------------------------------------------------------------------
# scores


@dataclass
class ScorePlan:
    name: str
    method: str
    level: str
    params: dict
    inputs: dict  # argument name -> resolved input (JSON-able dict with a "kind")
    outputs: tuple
    oracle: bool = False
    report: bool = False  # the method also writes results/scores/<name>.report.json

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outputs"] = list(self.outputs)
        return d


def _lookup(config: Mapping, path: Sequence[str]):
    node = config
    for p in path:
        if not isinstance(node, Mapping) or p not in node:
            return None
        node = node[p]
    return node


def _entry_value(entry: Mapping, key: str, field_name: str, method: str, arg: str, what: str):
    if field_name not in entry:
        raise PlanError(f"config: {key}.{field_name}: required by method {method!r} (its input {arg!r}: {what})")
    return entry[field_name]


def _check_model(config, value, key) -> str:
    if value not in config["models"]:
        raise PlanError(f"config: {key}: unknown model {value!r}; known models: {sorted(config['models'])}")
    return value


def _trainers():
    """The trainer registry (:mod:`clipcurate.train.trainers`), used for planning only. Imported by a
    computed name so that :mod:`clipcurate.core.codeversion`, which follows static imports, leaves it
    and every trainer module out of the score and mix jobs' code versions: no job runs them, and
    adding a trainer must not rerun every score."""
    import importlib

    return importlib.import_module(_TRAINERS)


_TRAINERS = ".".join([__name__.split(".")[0], "train", "trainers"])


def format_artifact(art: Artifact, entry: Mapping, config: Mapping, key: str, method: str, arg: str) -> str:
    """The artifact's path with its template fields taken from the config entry (checked). When a
    trainer writes the artifact (:func:`clipcurate.train.trainers.producer`), the entry the field names
    must be one that trainer trains: an E-FLYT head is read from an E-FLYT run, never a mixer's."""
    trainers = _trainers()
    producer = trainers.producer(art.path)
    values = {}
    for _, fname, _, _ in string.Formatter().parse(art.path):
        if not fname:
            continue
        value = _entry_value(entry, key, fname, method, arg, f"artifact {art.path}")
        if producer is not None and fname == producer.wildcard:
            try:
                trainers.check_reference(producer, config, value, f"{key}.{fname}")
            except ConfigError as e:
                raise PlanError(str(e)) from None
        values[fname] = value
    return art.path.format(**values)


def _method(config: Mapping, name: str) -> tuple[Mapping, Method]:
    scores = config.get("scores") or {}
    if name not in scores:
        raise PlanError(f"config: unknown score {name!r}; known scores: {sorted(scores)}")
    entry = scores[name]
    if not isinstance(entry, Mapping) or "method" not in entry:
        raise PlanError(f"config: scores.{name}.method: required")
    try:
        return entry, get(entry["method"])
    except UnknownMethodError as e:
        raise PlanError(f"config: scores.{name}.method: {e}") from None


def _variant(config: Mapping, entry: Mapping, key: str, method: str, kind: Embeddings, used: set) -> str:
    """The image variant of an Embeddings input: the method's default or the entry's ``variant``
    (checked against the variant registry, :mod:`clipcurate.embed.variants`, and its config section)."""
    from clipcurate.embed import variants

    name, field_name = kind.variant, f"{key}.method"
    if kind.variant_key:
        used.add(kind.variant_key)
        if kind.variant_key in entry:
            name, field_name = entry[kind.variant_key], f"{key}.{kind.variant_key}"
    if name not in variants.names():
        raise PlanError(f"config: {field_name}: unknown image variant {name!r}; known variants: {list(variants.names())}")
    if name not in variants.available():
        raise PlanError(
            f"config: {field_name}: method {method!r} needs embeddings of the {name!r} image variant, which is not "
            f"available yet ({variants.get(name).unavailable}); available: {list(variants.available())}"
        )
    try:
        variants.plan_variant(config, name)
    except variants.VariantConfigError as e:
        raise PlanError(str(e)) from None
    return name


def _reference_set(config: Mapping, kind, entry: Mapping, key: str, m: Method, used: set) -> tuple[str, Mapping]:
    """The reference set an input reads (the method's, or the entry's ``set_key`` value) and the
    known sets; an unknown set is a PlanError naming the key that chose it."""
    ref_set, set_field = kind.set, f"{key}.method ({m.name}'s reference set)"
    if kind.set_key:
        used.add(kind.set_key)
        if kind.set_key in entry:
            ref_set, set_field = entry[kind.set_key], f"{key}.{kind.set_key}"
    known = reference_sets(config)
    if ref_set not in known:
        raise PlanError(f"config: {set_field}: unknown reference set {ref_set!r}; known: {sorted(known)} "
                        "(the world's sets, and reference_sets: for a user's set)")
    return ref_set, known


def plan_score(config: Mapping, name: str, real_pool_check: bool = True) -> ScorePlan:
    """Resolve ``scores.<name>`` into a :class:`ScorePlan`; raise PlanError naming the key."""
    key = f"scores.{name}"
    entry, m = _method(config, name)
    used = set(SCORE_OWN_KEYS)
    inputs: dict[str, dict] = {}
    for arg, kind in m.inputs.items():
        if isinstance(kind, Embeddings):
            used.add(kind.model_key)
            model = _check_model(config, _entry_value(entry, key, kind.model_key, m.name, arg, "embeddings"), f"{key}.{kind.model_key}")
            inputs[arg] = {"kind": "embeddings", "model": model, "variant": _variant(config, entry, key, m.name, kind, used)}
            if tuple(kind.modalities) != MODALITIES:  # the default (both) stays out of the params
                inputs[arg]["modalities"] = list(kind.modalities)
        elif isinstance(kind, Metadata):
            inputs[arg] = {"kind": "metadata", "columns": list(kind.columns)}
        elif isinstance(kind, Images):
            if m.level != "chunk":
                raise PlanError(f"config: {key}.method: {m.name!r} reads images, which only chunk-level methods can")
            inputs[arg] = {"kind": "images"}
        elif isinstance(kind, ReferenceImages):
            ref_set, known = _reference_set(config, kind, entry, key, m, used)
            # `dir`: the shards read; `input`: what the job depends on (the world as a whole for its sets)
            inputs[arg] = {"kind": "reference_images", "set": ref_set, "dir": known[ref_set],
                           "input": reference_set_input(config, ref_set)}
        elif isinstance(kind, Reference):
            used.add(kind.model_key)
            model = _check_model(config, _entry_value(entry, key, kind.model_key, m.name, arg, "reference embeddings"), f"{key}.{kind.model_key}")
            ref_set, _ = _reference_set(config, kind, entry, key, m, used)
            inputs[arg] = {"kind": "reference", "model": model, "set": ref_set}
            if tuple(kind.modalities) != MODALITIES:  # the default (both) stays out of the params
                inputs[arg]["modalities"] = list(kind.modalities)
        elif isinstance(kind, Artifact):
            used.update(f for _, f, _, _ in string.Formatter().parse(kind.path) if f)
            inputs[arg] = {"kind": "artifact", "path": format_artifact(kind, entry, config, key, m.name, arg)}
        elif isinstance(kind, Scores):
            used.add(kind.key)
            refs = _entry_value(entry, key, kind.key, m.name, arg, "score files")
            refs = [refs] if isinstance(refs, str) else list(refs)
            if not refs:
                raise PlanError(f"config: {key}.{kind.key}: names no score")
            for r in refs:
                ref_name = parse_score_ref(r)[0]
                if ref_name == name:
                    raise PlanError(f"config: {key}.{kind.key}: a score cannot read itself ({r!r})")
                if ref_name not in (config.get("scores") or {}):
                    raise PlanError(f"config: {key}.{kind.key}: unknown score {r!r}; known scores: {sorted(config.get('scores') or {})}")
            inputs[arg] = {"kind": "scores", "refs": [list(s) for s in score_specs(refs)]}
        elif isinstance(kind, Truth):
            if real_pool_check and config["pool"]["source"] != "world":
                raise PlanError(
                    f"config: {key}.method: {m.name!r} is an oracle (it reads the tiny world's ground truth); "
                    "a real pool has none, so it cannot be planned"
                )
            inputs[arg] = {"kind": "truth"}
    # a key set to null is unset: a scale file that switches a score to another method (hype to
    # hype_checkpoint) nulls the keys only the former method takes, which the merge would otherwise keep
    unknown = sorted(k for k in entry if k not in used and entry[k] is not None)
    if unknown:
        raise PlanError(
            f"config: {key}.{unknown[0]}: not an input of method {m.name!r}; its entry takes {sorted(used - {'label'})}"
        )
    params = dict(entry.get("params") or {})
    if not isinstance(entry.get("params") or {}, Mapping):
        raise PlanError(f"config: {key}.params: must be a mapping")
    unknown = [p for p in params if p not in m.defaults]
    if unknown:
        raise PlanError(f"config: {key}.params.{unknown[0]}: unknown parameter of {m.name!r}; known: {sorted(m.defaults)}")
    try:
        from clipcurate.scores.stages import check_resources

        check_resources(m, entry, key)
    except ValueError as e:
        raise PlanError(str(e)) from None
    if m.check is not None:
        try:
            m.check(entry, config, key)
        except PlanError:
            raise
        except (ValueError, KeyError) as e:
            raise PlanError(str(e) if isinstance(e, ValueError) else f"config: {key}: {e}") from None
    return ScorePlan(name, m.name, m.level, {**m.defaults, **params}, inputs, m.outputs, m.oracle, m.report)


def _as_plan(plan) -> ScorePlan:
    if isinstance(plan, ScorePlan):
        return plan
    d = dict(plan)
    return ScorePlan(d["name"], d["method"], d["level"], dict(d["params"]), dict(d["inputs"]), tuple(d["outputs"]),
                     d.get("oracle", False), d.get("report", False))


def score_names(config: Mapping, report: bool) -> list[str]:
    """Names of the configured scores whose method writes a report (``report=True``) or not."""
    out = []
    for name, entry in (config.get("scores") or {}).items():
        try:
            m = get(entry.get("method"))
        except UnknownMethodError:
            continue
        if m.report == report:
            out.append(name)
    return sorted(out)


def report_path(name: str) -> str:
    return f"results/scores/{name}.report.json"


def pool_shards(config: Mapping) -> str:
    """The pool's webdataset shards: ``pool.shards_dir`` (shards a user already has) or the download's."""
    return (config.get("pool") or {}).get("shards_dir") or POOL_SHARDS


def score_files(plan, chunk: str | None = None, chunks: Sequence[str] = (), shards: str = POOL_SHARDS,
                only: Sequence[str] | None = None) -> dict[str, Any]:
    """The rule's input files, keyed as the runner expects.

    With ``chunk`` (a chunk-level method's per-chunk job) the embeddings are that chunk's; without it
    (a pool-level method) they are every chunk's, in order. ``index`` is always there. Metadata is
    read from the download's per-shard parquet files in ``shards`` (:func:`pool_shards`: the
    download's folder or ``pool.shards_dir``), the truth from the world directory. ``only`` limits
    the declared inputs to those names (a stage of a staged method reads only its own).
    """
    plan = _as_plan(plan)
    files: dict[str, Any] = {"index": POOL_INDEX}
    for arg, spec in plan.inputs.items():
        if only is not None and arg not in only:
            continue
        kind = spec["kind"]
        if kind == "embeddings":
            # a variant's files hold image vectors only; the text vectors are the plain embeddings'
            # (only when the method reads text at all)
            text_too = spec["variant"] != "plain" and "text" in spec.get("modalities", MODALITIES)
            pairs = [(arg, spec["variant"])] + ([(text_input(arg), "plain")] if text_too else [])
            for name, variant in pairs:
                if chunk is not None:
                    files[name] = embeddings_path(spec["model"], variant, chunk)
                else:
                    files[name] = [embeddings_path(spec["model"], variant, c) for c in chunks]
        elif kind in ("metadata", "images"):
            files[arg] = shards
        elif kind == "reference":
            files[arg] = reference_embeddings_path(spec["model"], spec["set"])
        elif kind == "reference_images":
            files[arg] = spec["input"]
        elif kind == "artifact":
            files[arg] = spec["path"]
        elif kind == "scores":
            files[arg] = sorted({path for _, path, _ in spec["refs"]})
        elif kind == "truth":
            files[arg] = WORLD_DIR
        else:  # pragma: no cover - plans come from plan_score
            raise PlanError(f"score {plan.name}: unknown input kind {kind!r}")
    return files


def text_input(arg: str) -> str:
    """The rule-input name of the plain embeddings whose text vectors go with a variant's ``arg``."""
    return f"{arg}__text"


def code_version(method: str, script, src) -> str:
    """Hash of the code computing a score: ``script`` (the rule's workflow script) and its import
    closure (:mod:`clipcurate.core.codeversion`), in which the registries' plug-ins are reduced to this
    method's module and what it imports: adding or editing another method (or an image variant,
    which only embed jobs run) changes nothing here."""
    from clipcurate.core.codeversion import code_version as closure_version

    return closure_version(script, src, plugins=(get(method).module,))
