"""The workflow's configuration, checked when the Snakefile is parsed, before any job starts.

Snakemake deletes a job's old outputs when it starts the job, so a config error that only a job
discovers (a world whose kinds sum to 1.5, a sampler parameter the sampler rejects, a mix parameter
the mixer rejects) costs the previous outputs. Everything that can be known from the config alone is
therefore checked here, by the same library functions the jobs call (:mod:`clipcurate.sample.subset`,
:mod:`clipcurate.mix.aggregate`, :mod:`clipcurate.world.generate`), so that the check and the job cannot
disagree. Every error is a :class:`ConfigError` whose message starts with the file or the config key
(``recipes.x.sample.alpha``) and says what was expected.

The Snakefile calls, in order:

* :func:`check_yaml_files` on the config files it loads itself (a YAML syntax error gets file, line
  and column; files given with ``--configfile`` are parsed by Snakemake's command line before the
  Snakefile runs, so for those ``python -m clipcurate.config.check FILE...`` gives the same message,
  and runs every check below without Snakemake);
* :func:`prepare`: merges ``config/{models,scores,mixes,recipes,tables}/*.yaml``, validates the merged
  config against ``config/schema.yaml`` with short errors (an unknown top-level key is named with
  the file that sets it, never by printing the whole merged config), expands the blocks that stand
  for entries (:mod:`clipcurate.config.expand`) and validates again, then runs :func:`check_config`
  (world, pool and evaluation, model architectures, tables, their plots and suite, every trained
  entry's inputs (:func:`clipcurate.train.trainers.check_config`), samplers, mixes), :func:`check_score_refs`
  and :func:`clipcurate.config.plan_checks.check_all` (checks joining sections: the evaluation root per
  scale, sampler sizes against ``scale.pool_size``, ``name:column`` references against the scores'
  declared outputs).

``python -m clipcurate.config.check`` runs the same, then builds the rules' view of the config
(:func:`clipcurate.config.wiring.parse_time_check`), so it accepts exactly what the Snakefile
accepts; every error is printed as one line.

:func:`check_score_refs` holds the checks that depend on how score methods are resolved (known
score names, trained artifacts read from entries their trainer trains, which scores give a ``keep`` column), apart from
the other cross-checks, so that it can be replaced as one piece.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

#: the tiny open_clip configs shipped with the package (read by clipcurate.embed.models)
SHIPPED_CONFIGS = Path(__file__).parents[1] / "embed" / "model_configs"

import yaml

from clipcurate.config.errors import ConfigError  # re-exported: config_check.ConfigError

#: world settings that are the download's, not the generator's (rules/world.smk drops them too)
WORLD_RULE_KEYS = ("seed", "serve_port")
#: table columns besides the suite's task keys: :data:`clipcurate.evaluate.results.AGGREGATES` and
#: :data:`clipcurate.report.tables.SIZE_COLUMNS` (repeated so that parsing the workflow does not import
#: torch; a unit test checks that they agree)
TABLE_AGGREGATES = ("ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Average")
TABLE_SIZE_COLUMNS = ("dataset size", "samples with repeats")


# --------------------------------------------------------------------------------------------
# YAML files


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; a syntax error names the file, line and column."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror or e})") from e
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = " ".join(str(x) for x in (e.context, e.problem) if x)
        if e.context_mark is not None and e.problem_mark is not None and e.context_mark.line != e.problem_mark.line:
            what += f" (the construct began at line {e.context_mark.line + 1}, column {e.context_mark.column + 1})"
        raise ConfigError(f"{where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML syntax error: {e}") from None


def check_yaml_files(paths: Iterable[str | Path]) -> None:
    """Parse each existing file (see :func:`load_yaml`); a top level that is not a mapping is an error."""
    for path in paths:
        if Path(path).exists():
            data = load_yaml(path)
            if data is not None and not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping of config keys at the top level, got {type(data).__name__}")


#: The config sections that may also be split into ``config/<section>/*.yaml`` files (one file per
#: paper or stage), merged under ``config[<section>]`` before validation.
NAMED_SECTIONS = ("models", "scores", "mixes", "recipes", "tables")


def _deep_merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) else value
    return out


def merge_named_files(config: dict, repo: str | Path, kind: str) -> None:
    """Merge ``config/<kind>/*.yaml`` (scores, mixes, recipes, tables) under ``config[kind]``.

    A name defined in two files is an error naming the file that repeats it. An entry the config
    itself also sets (config.yaml, a scale file, ``--config``) is deep-merged over the file's entry,
    so that a scale file may change one parameter of an entry defined in a file.
    """
    merged: dict = {}
    for path in sorted((Path(repo) / "config" / kind).glob("*.yaml")):
        data = load_yaml(path) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of {kind[:-1]} names to entries, got {type(data).__name__}")
        for name, entry in data.items():
            if name in merged:
                raise ConfigError(f"{path}: {kind[:-1]} {name!r} is defined twice")
            merged[name] = entry
    own = config.get(kind)
    if own is not None and not isinstance(own, dict):
        raise ConfigError(f"config key {kind}: expected a mapping of {kind[:-1]} names to entries, got {own!r}")
    for name, entry in (own or {}).items():
        base = merged.get(name)
        merged[name] = _deep_merge(base, entry) if isinstance(base, Mapping) and isinstance(entry, Mapping) else entry
    config[kind] = merged


# --------------------------------------------------------------------------------------------
# the schema


def _key(path: Sequence) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _source_of(path: Sequence, sources: Sequence[tuple[str, Mapping]]) -> str | None:
    """The last source (file or --config) that sets the key ``path``, if any."""
    found = None
    for name, data in sources:
        node: Any = data
        for p in path:  # the source counts only if it sets the whole path
            if isinstance(node, Mapping) and p in node:
                node = node[p]
            elif isinstance(node, list) and isinstance(p, int) and p < len(node):
                node = node[p]
            else:
                break
        else:
            found = name
    return found


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 5] + " ...)"


def validate_schema(config: Mapping, schema_path: str | Path, sources: Sequence[tuple[str, Mapping]] = ()) -> None:
    """Validate ``config`` against the JSON schema; the error names the key, the file that sets it
    (``sources``: (name, parsed file) pairs, later ones win) and what the schema expects."""
    import jsonschema

    from clipcurate.train import trainers

    schema = trainers.schema(load_yaml(schema_path))  # with each trainer's fragment (its config section)
    known = schema.get("properties", {})
    for key in config:
        if key not in known:
            src = _source_of([key], sources)
            raise ConfigError(
                f"config: unknown top-level key {key!r}" + (f" (set in {src})" if src else "")
                + f"; known keys: {', '.join(sorted(known))}"
            )
    validator = jsonschema.Draft202012Validator(schema)
    err = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if err is None:
        return
    path = list(err.absolute_path)
    message = err.message
    if err.parent is not None and err.parent.validator == "anyOf":  # e.g. datacomp: metadata_dir or shard_list
        alternatives = [
            ", ".join(f"{k} ({v.get('type', 'any')})" for k, v in (sub.get("properties") or {}).items()) or str(sub)
            for sub in err.parent.validator_value
        ]
        path = list(err.parent.absolute_path)
        message = f"expected one of: {' | '.join(alternatives)}; the settings given match none"
    if list(err.absolute_schema_path)[-2:-1] == ["propertyNames"]:  # a key the setting does not take
        message = f"key {err.instance!r} is not allowed here; allowed keys: {', '.join(err.validator_value)}"
    src = _source_of(path, sources) if path else None
    raise ConfigError(f"config key {_key(path)}" + (f" (set in {src})" if src else "") + f": {_short(message)}")


# --------------------------------------------------------------------------------------------
# cross-key checks


def mix_inputs(config: Mapping, name: str) -> list[str]:
    """A mix's inputs, as planned (:func:`clipcurate.mix.plan.plan_mix`: a declared method such as
    M-FLYT takes the inputs its trained artifact was trained on)."""
    from clipcurate.mix.plan import plan_mix

    return list(plan_mix(config, name).inputs)


def check_world(config: Mapping) -> None:
    """The tiny world's settings, checked by the generator's own resolver (when the pool is the world)."""
    if config["pool"]["source"] != "world":
        return
    from clipcurate.world.generate import WorldError, resolve_cfg

    if config["world"]["pool_size"] != config["scale"]["pool_size"]:
        raise ConfigError(
            f"config: world.pool_size ({config['world']['pool_size']}) must equal scale.pool_size ({config['scale']['pool_size']})"
        )
    try:
        resolve_cfg({k: v for k, v in config["world"].items() if k not in WORLD_RULE_KEYS})
    except WorldError as e:
        raise ConfigError(f"config: {str(e).replace('world cfg: ', 'world.', 1)}") from None


def check_samplers(config: Mapping) -> None:
    """Each recipe's ``sample`` section, resolved by the sampler's own validation (what the sample job runs)."""
    from clipcurate.sample import subset
    from clipcurate.sample.validate import SamplingError
    from clipcurate.sample.within import recipe_n_target

    for name, recipe in config["recipes"].items():
        try:
            resolved = subset.resolve_sample_cfg(recipe["sample"], recipe_n_target(recipe, config["scale"]), name)
        except SamplingError as e:
            raise ConfigError(f"config: {e}") from None
        if resolved["method"] != "all" and "score" not in recipe and "mix" not in recipe:
            raise ConfigError(
                f"config: recipes.{name}.sample.method: {resolved['method']!r} needs a score or a mix; "
                "the recipe names neither (give `score:` or `mix:`, or use method 'all')"
            )


def check_mixes(config: Mapping) -> None:
    """Each mix planned (:func:`clipcurate.mix.plan.plan_mix`: its method, inputs, trained
    artifacts and recipe references), then its parameters checked by :func:`clipcurate.mix.aggregate.check_params`
    against its input names. ``in_accuracy: recipe:<name>`` values are resolved only when the mix job
    runs (from that recipe's evaluation); they stand in as distinct numbers here."""
    from clipcurate.mix import aggregate as mixing
    from clipcurate.mix.declared import DECLARED
    from clipcurate.mix.plan import plan_mix

    for name, mix in config["mixes"].items():
        plan = plan_mix(config, name)
        if plan.method in DECLARED:  # parameters come from the trained artifact (plan_mix refuses any)
            continue
        params = dict(plan.params)
        if plan.recipes:
            refs = {k for k, v in params["in_accuracy"].items() if isinstance(v, str) and v.startswith("recipe:")}
            params["in_accuracy"] = {
                # stand-ins above any accuracy, so that they never collide with a number given
                k: (1000.0 + i if k in refs else v) for i, (k, v) in enumerate(params["in_accuracy"].items())
            }
        try:
            mixing.check_params(plan.method, plan.inputs, params)
        except mixing.MixingError as e:
            raise ConfigError(f"config: mixes.{name}.params: {e}") from None


def suite_task_keys(config: Mapping, repo: str | Path) -> list[str]:
    """The task keys of ``config/tasks/<evaluation.suite>.yaml``; a missing or malformed suite is an error."""
    path = Path(repo) / "config" / "tasks" / f"{config['evaluation']['suite']}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"config: evaluation.suite: no suite file {path}; known suites: {', '.join(known)}")
    suite = load_yaml(path)
    tasks = suite.get("tasks") if isinstance(suite, Mapping) else None
    if not isinstance(tasks, list) or not all(isinstance(t, Mapping) and "key" in t for t in tasks):
        raise ConfigError(f"{path}: expected 'tasks', a list of entries each with a 'key'")
    return [str(t["key"]) for t in tasks]


def _some(name: str, known, limit: int = 30) -> str:
    """The known names for an error message: all of them when few, else the closest ones and a count
    (a config with an expanded experiment has hundreds of recipes)."""
    import difflib

    known = sorted(known)
    if len(known) <= limit:
        return str(known)
    close = difflib.get_close_matches(name, known, n=10, cutoff=0.3)
    return f"{len(known)} names, the closest {close}" if close else f"{len(known)} names, e.g. {known[:10]}"


def check_tables(config: Mapping, repo: str | Path | None = None) -> None:
    """Each table row names a recipe; each column is an aggregate, a size column or a task of the suite."""
    for name, table in config["tables"].items():
        for i, row in enumerate(table["rows"]):
            if row["recipe"] not in config["recipes"]:
                raise ConfigError(
                    f"config: tables.{name}.rows[{i}].recipe: unknown recipe {row['recipe']!r}; known: {_some(row['recipe'], config['recipes'])}"
                )
    if repo is None:
        return
    tasks = suite_task_keys(config, repo)
    for name, table in config["tables"].items():
        for i, col in enumerate(table["columns"]):
            if col not in TABLE_AGGREGATES and col not in TABLE_SIZE_COLUMNS and col not in tasks:
                raise ConfigError(
                    f"config: tables.{name}.columns[{i}]: unknown column {col!r}; expected an aggregate "
                    f"({', '.join(TABLE_AGGREGATES)}), a size column ({', '.join(TABLE_SIZE_COLUMNS)}) or a task key "
                    f"of suite {config['evaluation']['suite']!r}"
                )


def known_archs() -> set[str]:
    """open_clip's model config names and the shipped tiny ones, found without importing open_clip
    (which imports torch: too slow for every parse of the workflow)."""
    import importlib.util

    names = {p.stem for p in (SHIPPED_CONFIGS).glob("*.json")}
    spec = importlib.util.find_spec("open_clip")
    for root in (spec.submodule_search_locations or []) if spec else []:
        names |= {p.stem for p in (Path(root) / "model_configs").glob("*.json")}
    return names


def check_models(config: Mapping) -> None:
    """Each model's architecture exists, and a model trained here on a subset has the scale's."""
    archs = known_archs()

    def check(arch, key: str) -> None:
        if isinstance(arch, str) and arch.startswith(("hf-hub:", "local-dir:")):
            return
        if arch not in archs:
            raise ConfigError(
                f"config: {key}: unknown architecture {arch!r}; expected an open_clip model config name "
                f"(e.g. ViT-B-32, ViT-L-14) or a shipped one ({', '.join(sorted(p.stem for p in SHIPPED_CONFIGS.glob('*.json')))})"
            )

    check(config["scale"]["model"], "scale.model")
    for name, model in config["models"].items():
        check(model["arch"], f"models.{name}.arch")
        if str(model.get("pretrained") or "").startswith("results/train/") and model["arch"] != config["scale"]["model"]:
            raise ConfigError(
                f"config: models.{name}.arch: {model['arch']!r}, but its weights {model['pretrained']} are trained by this "
                f"workflow with scale.model ({config['scale']['model']!r}); expected the same architecture"
            )


def check_config(config: Mapping, repo: str | Path | None = None) -> None:
    """Cross-key checks the JSON schema cannot express (run after :func:`validate_schema`); with
    ``repo``, also the table columns against the evaluation suite's file."""
    from clipcurate.config.checks import check_claims_config, check_pool_config, check_table_plots

    check_world(config)
    check_pool_config(config)
    check_models(config)
    check_tables(config, repo)
    check_table_plots(config)
    check_claims_config(config)
    # every trained entry (models.*.train, classifiers, flyt.runs ...): its inputs' names exist
    from clipcurate.train import trainers

    trainers.check_config(config)
    check_samplers(config)
    check_mixes(config)


def check_score_refs(config: Mapping) -> None:
    """Checks that depend on the score methods: every score a recipe names exists, every score and
    mix entry resolves against its method's declared inputs (:func:`clipcurate.mix.plan.check_scores`:
    a trained artifact it reads is one its trainer makes, e.g. an E-FLYT score names an E-FLYT run),
    and the column a recipe's sampler reads (``keep``, ``count``, ``score``) is one its score or mix gives."""
    scores = config["scores"]

    for name, recipe in config["recipes"].items():
        if "score" in recipe and recipe["score"] not in scores:  # a recipe samples a whole score file
            raise ConfigError(f"config: recipes.{name}.score: unknown score {recipe['score']!r}; known: {_some(recipe['score'], scores)}")
        if "mix" in recipe and recipe["mix"] not in config["mixes"]:
            raise ConfigError(f"config: recipes.{name}.mix: unknown mix {recipe['mix']!r}; known: {_some(recipe['mix'], config['mixes'])}")
        if "within" in recipe:  # a sub-pool: a score's boolean keep column (schema: `<score>:keep`)
            within = recipe["within"].partition(":")[0]
            if within not in scores:
                raise ConfigError(f"config: recipes.{name}.within: unknown score {within!r}; known: {_some(within, scores)}")
            outputs = _score_outputs(config, within)
            if outputs is not None and "keep" not in outputs:
                raise ConfigError(
                    f"config: recipes.{name}.within: score {within!r} (method {scores[within]['method']}) gives "
                    f"{list(outputs)}, no boolean 'keep' column to restrict the candidates to"
                )
    # every score and mix entry against its method's declared inputs (clipcurate.scores.plan):
    # names exist, keys are used, trained artifacts are of the right trainer, no cycles; errors name the key
    from clipcurate.mix.plan import check_scores

    check_scores(config)
    _check_keep_sources(config)


def _score_outputs(config: Mapping, score: str) -> tuple[str, ...] | None:
    """The columns score ``score``'s method writes (None for an unknown method: the score's own
    check names it)."""
    from clipcurate import scores

    try:
        return tuple(scores.get(config["scores"][score]["method"]).outputs)
    except Exception:
        return None


def _check_keep_sources(config: Mapping) -> None:
    """A recipe's sampler reads a column of its score or mix: ``keep`` a boolean ``keep`` (a set mix,
    or a score method that outputs it), ``counts`` a ``count`` column of repeat counts (a method or
    mix that outputs counts), the other samplers ``score``. A ``filter_counts`` mix reads a score's
    ``count`` column and ``keep`` columns. Refused here, naming the key, rather than when the job runs."""
    from clipcurate.mix import aggregate as mixing
    from clipcurate.sample import subset

    wants = {"keep": "a boolean keep column", "counts": "a count column (repeat counts)"}
    for name, recipe in config["recipes"].items():
        sampler = recipe["sample"].get("method")
        if sampler == "all":
            continue
        column = subset.SOURCE_COLUMNS.get(sampler, "score")  # the samplers read the score as logits
        if column == "score":
            outputs = _score_outputs(config, recipe["score"]) if "score" in recipe else None
            if outputs is not None and "score" not in outputs:
                raise ConfigError(
                    f"config: recipes.{name}.sample.method: {sampler!r} samples by a score column, but score "
                    f"{recipe['score']!r} ({config['scores'][recipe['score']]['method']}) gives {list(outputs)}; "
                    f"use {[m for m in subset.SOURCE_COLUMNS if subset.SOURCE_COLUMNS[m] in outputs]}"
                )
            continue
        if "mix" in recipe:
            method = config["mixes"][recipe["mix"]]["method"]
            if column not in mixing.outputs(method):
                givers = [m for m in mixing.METHODS if column in mixing.outputs(m)]
                raise ConfigError(
                    f"config: recipes.{name}.sample.method: {sampler!r} needs {wants[sampler]}, but mix "
                    f"{recipe['mix']!r} ({method}) gives {'only a score' if sampler == 'keep' else list(mixing.outputs(method))}; "
                    f"use one of {givers}" + (" or a sampler" if sampler == "keep" else "")
                )
        elif "score" in recipe:
            outputs = _score_outputs(config, recipe["score"])
            if outputs is not None and column not in outputs:
                method = config["scores"][recipe["score"]]["method"]
                raise ConfigError(
                    f"config: recipes.{name}.sample.method: {sampler!r} needs {wants[sampler]}, but score "
                    f"{recipe['score']!r} ({method}) gives {list(outputs)}; use a sampler (threshold, scs, ...)"
                    + (" or a method that outputs count" if sampler == "counts" else "")
                )
    for name, mix in config["mixes"].items():
        if mix["method"] not in mixing.COUNT_METHODS:
            continue
        # filter_counts: the counts input is a score's count column, the others keep columns
        for ref in mix["inputs"]:
            score, _, col = ref.partition(":")
            want = "count" if ref == (mix.get("params") or {}).get("counts") else "keep"
            outputs = _score_outputs(config, score)
            if col != want or (outputs is not None and want not in outputs):
                raise ConfigError(
                    f"config: mixes.{name}.inputs: {ref!r} must be a score's {want} column (`<score>:{want}`, from a "
                    f"method that outputs {want}); score {score!r} gives {list(outputs) if outputs is not None else '?'}"
                )


# --------------------------------------------------------------------------------------------
# the whole check, as the Snakefile runs it


def prepare(config: dict, repo: str | Path, sources: Sequence[tuple[str, Mapping]] = ()) -> list[dict]:
    """Merge the recipe and table files into ``config``, validate it against ``config/schema.yaml``,
    expand the blocks that stand for entries (:mod:`clipcurate.config.expand`; returns the DFN
    data-quality experiment's points) and run every cross-check. ``sources`` lists the (name, parsed content) of each config file and
    of ``--config`` in load order, so that errors can name the file that sets a key."""
    repo = Path(repo)
    for section in NAMED_SECTIONS:
        merge_named_files(config, repo, section)
    validate_schema(config, repo / "config" / "schema.yaml", sources)
    # blocks that stand for entries (dfn_quality) expand first; the schema then checks what they added
    from clipcurate.config.expand import expand_config

    points = expand_config(config)
    if points:
        validate_schema(config, repo / "config" / "schema.yaml", sources)
    check_config(config, repo)
    check_score_refs(config)
    from clipcurate.config.plan_checks import check_all  # checks joining sections: data_root, sampler sizes, score columns

    check_all(config)
    # rows_only (a claims run): the rows this run builds; after the checks, which see every row (a
    # claim names rows of the whole table), and before the wiring plans any table
    from clipcurate.config.rows_only import restrict_tables

    restrict_tables(config)
    return points


def sources_of(paths: Iterable[str | Path], overrides: Mapping | None = None) -> list[tuple[str, Mapping]]:
    """(name, parsed content) of each config file that exists, then ``--config`` overrides."""
    out = []
    for p in paths:
        if Path(p).exists():
            data = load_yaml(p)
            if isinstance(data, Mapping):
                out.append((str(p), data))
    if overrides:
        out.append(("--config", overrides))
    return out


def _deep_update(base: dict, new: Mapping) -> None:
    """Snakemake's merge of config files: nested mappings merge, anything else replaces."""
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _deep_update(base[k], v)
        else:
            base[k] = copy.deepcopy(v)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clipcurate.config.check [--repo DIR] FILE...``: the checks the Snakefile runs, on
    the shipped config plus FILE... (as ``--configfile FILE...`` would give it), with YAML syntax
    errors located by file, line and column. Exit status 1 and the message on a bad config."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m clipcurate.config.check", description=main.__doc__)
    ap.add_argument("files", nargs="*", help="config files, in --configfile order")
    ap.add_argument("--repo", default=".", help="the workflow's checkout (holds config/); default: the current directory")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    repo = Path(args.repo)
    try:
        for p in args.files:
            if not Path(p).exists():
                raise ConfigError(f"{p}: config file not found")
        check_yaml_files(args.files)
        shipped = [repo / "config" / "config.yaml", repo / "config" / "scales" / "tiny.yaml"]
        if not all(p.exists() for p in shipped):
            raise ConfigError(f"{repo}: not the workflow's checkout (no config/config.yaml); give --repo")
        check_yaml_files(shipped)
        config: dict = {}
        sources = sources_of([*shipped, *args.files])
        for _, data in sources:
            _deep_update(config, data)
        prepare(config, repo, sources)
        from clipcurate.config.wiring import parse_time_check

        parse_time_check(config, repo)
    except ValueError as e:  # ConfigError, PlanError and the rules' lookups: one line, no traceback
        print(str(e).splitlines()[0] if str(e) else type(e).__name__, file=sys.stderr)
        return 1
    print("config OK")
    return 0


if __name__ == "__main__":
    # run the imported module's main, not this __main__ copy: modules that raise ConfigError
    # (clipcurate.config.plan_checks) import it from clipcurate.config.check, a different class object
    from clipcurate.config.check import main as _main

    sys.exit(_main())
