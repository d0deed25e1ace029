"""The workflow's configuration, checked when the Snakefile is parsed, before any job starts.

Snakemake deletes a job's old outputs when it starts the job, so a config error that only a job
discovers (a world whose kinds sum to 1.5, a sampler parameter the sampler rejects, a mix parameter
the mixer rejects) costs the previous outputs. Everything that can be known from the config alone is
therefore checked here, by the same library functions the jobs call (:mod:`clipcurate.subset`,
:mod:`clipcurate.mixing`, :mod:`clipcurate.world.generate`), so that the check and the job cannot
disagree. Every error is a :class:`ConfigError` whose message starts with the file or the config key
(``recipes.x.sample.alpha``) and says what was expected.

The Snakefile calls, in order:

* :func:`check_yaml_files` on the config files it loads itself (a YAML syntax error gets file, line
  and column; files given with ``--configfile`` are parsed by Snakemake's command line before the
  Snakefile runs, so for those ``python -m clipcurate.config_check FILE...`` gives the same message,
  and runs every check below without Snakemake);
* :func:`prepare`: merges ``config/recipes/*.yaml`` and ``config/tables/*.yaml``, validates the merged
  config against ``config/schema.yaml`` with short errors (an unknown top-level key is named with
  the file that sets it, never by printing the whole merged config), then runs :func:`check_config`
  (world, model architectures, tables and suite, FLYT runs, samplers, mixes) and
  :func:`check_score_refs`.

:func:`check_score_refs` holds the checks that depend on how score methods are resolved (known
score names, the E-FLYT head's embedding model, which scores give a ``keep`` column), apart from
the other cross-checks, so that it can be replaced as one piece.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

#: world settings that are the download's, not the generator's (rules/world.smk drops them too)
WORLD_RULE_KEYS = ("seed", "serve_port")
#: table columns besides the suite's task keys: :data:`clipcurate.eval_results.AGGREGATES` and
#: :data:`clipcurate.tables.SIZE_COLUMNS` (repeated so that parsing the workflow does not import
#: torch; a unit test checks that they agree)
TABLE_AGGREGATES = ("ImageNet", "ImageNet dist. shifts", "VTAB", "Retrieval", "Average")
TABLE_SIZE_COLUMNS = ("dataset size", "samples with repeats")


class ConfigError(ValueError):
    """A configuration error; the message names the file or the config key and what was expected."""


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


def merge_named_files(config: dict, repo: str | Path, kind: str) -> None:
    """Merge ``config/<kind>/*.yaml`` (recipes, tables) under ``config[kind]``; config entries win.

    A name defined in two files is an error naming the file that repeats it.
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
    merged.update(own or {})
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

    schema = load_yaml(schema_path)
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


def _flyt_run(config: Mapping, name, key: str, scorer: str | None = None) -> Mapping:
    runs = config["flyt"]["runs"]
    if name not in runs:
        raise ConfigError(f"config: {key}: unknown flyt run {name!r}; known flyt.runs: {', '.join(sorted(runs)) or '(none)'}")
    if scorer and runs[name]["scorer"] != scorer:
        raise ConfigError(f"config: {key}: flyt run {name!r} has scorer {runs[name]['scorer']!r}, expected {scorer!r}")
    return runs[name]


def mix_inputs(config: Mapping, name: str) -> list[str]:
    """A mix's inputs; an M-FLYT mix takes the inputs its mixer was trained on."""
    mix = config["mixes"][name]
    if mix["method"] == "mflyt":
        return list(_flyt_run(config, mix["flyt"], f"mixes.{name}.flyt", scorer="mixer")["inputs"])
    return list(mix["inputs"])


def _recipe_refs(params: Mapping | None) -> dict[str, str]:
    acc = (params or {}).get("in_accuracy")
    if not isinstance(acc, Mapping):
        return {}
    return {k: v.partition(":")[2] for k, v in acc.items() if isinstance(v, str) and v.startswith("recipe:")}


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
    from clipcurate import sampling, subset

    n_target = config["scale"]["samples_seen"]
    for name, recipe in config["recipes"].items():
        try:
            resolved = subset.resolve_sample_cfg(recipe["sample"], n_target, name)
        except sampling.SamplingError as e:
            raise ConfigError(f"config: {e}") from None
        if resolved["method"] != "all" and "score" not in recipe and "mix" not in recipe:
            raise ConfigError(
                f"config: recipes.{name}.sample.method: {resolved['method']!r} needs a score or a mix; "
                "the recipe names neither (give `score:` or `mix:`, or use method 'all')"
            )


def check_mixes(config: Mapping) -> None:
    """Each mix's method and parameters, checked by :func:`clipcurate.mixing.check_params` against its
    input names. ``in_accuracy: recipe:<name>`` values are resolved only when the mix job runs (from
    that recipe's evaluation), so they are checked to name a recipe, and stand in as distinct numbers."""
    from clipcurate import mixing

    for name, mix in config["mixes"].items():
        if mix["method"] == "mflyt":
            mix_inputs(config, name)
            if mix.get("params"):
                raise ConfigError(
                    f"config: mixes.{name}.params: method 'mflyt' takes its weights from the trained mixer "
                    f"(flyt.runs.{mix['flyt']}); remove params"
                )
            continue
        if mix["method"] not in mixing.METHODS:
            raise ConfigError(
                f"config: mixes.{name}.method: unknown mixing method {mix['method']!r}; known: {', '.join([*mixing.METHODS, 'mflyt'])}"
            )
        params = dict(mix.get("params") or {})
        refs = _recipe_refs(params)
        for inp, recipe in refs.items():
            if recipe not in config["recipes"]:
                raise ConfigError(
                    f"config: mixes.{name}.params.in_accuracy: unknown recipe {recipe!r}; known: {sorted(config['recipes'])}"
                )
        if refs:
            params["in_accuracy"] = {
                # stand-ins above any accuracy, so that they never collide with a number given
                k: (1000.0 + i if k in refs else v) for i, (k, v) in enumerate(params["in_accuracy"].items())
            }
        try:
            mixing.check_params(mix["method"], mix["inputs"], params)
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


def check_tables(config: Mapping, repo: str | Path | None = None) -> None:
    """Each table row names a recipe; each column is an aggregate, a size column or a task of the suite."""
    for name, table in config["tables"].items():
        for i, row in enumerate(table["rows"]):
            if row["recipe"] not in config["recipes"]:
                raise ConfigError(
                    f"config: tables.{name}.rows[{i}].recipe: unknown recipe {row['recipe']!r}; known: {sorted(config['recipes'])}"
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

    names = {p.stem for p in (Path(__file__).parent / "model_configs").glob("*.json")}
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
                f"(e.g. ViT-B-32, ViT-L-14) or a shipped one ({', '.join(sorted(p.stem for p in (Path(__file__).parent / 'model_configs').glob('*.json')))})"
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
    check_world(config)
    check_models(config)
    check_tables(config, repo)
    for name, model in config["models"].items():
        dataset = (model.get("train") or {}).get("dataset")
        if dataset is not None:
            from clipcurate.world.generate import REFERENCE_SETS

            # one reference set, or a list of them (their union)
            for one in [dataset] if isinstance(dataset, str) else dataset:
                if one not in REFERENCE_SETS:
                    raise ConfigError(
                        f"config: models.{name}.train.dataset: unknown reference set {one!r}; "
                        f"expected one of the world's: {', '.join(REFERENCE_SETS)}"
                    )
    for name, run in config["flyt"]["runs"].items():
        for key in ("reference_model", "embed_model"):
            if key in run and run[key] not in config["models"]:
                raise ConfigError(f"config: flyt.runs.{name}.{key}: unknown model {run[key]!r}; known: {sorted(config['models'])}")
    for name, mix in config["mixes"].items():
        if mix["method"] == "mflyt":
            _flyt_run(config, mix.get("flyt"), f"mixes.{name}.flyt", scorer="mixer")
    check_samplers(config)
    check_mixes(config)


def check_score_refs(config: Mapping) -> None:
    """Checks that depend on the score methods: every score a recipe or FLYT run names exists, every
    score and mix entry resolves against its method's declared inputs (:func:`clipcurate.scores.plan.check_scores`,
    e.g. an E-FLYT score uses its head's embedding model), and a ``keep`` recipe's score gives ``keep``."""
    scores = config["scores"]

    def known(ref: str, key: str) -> None:
        if ref.split(":")[0] not in scores:
            raise ConfigError(f"config: {key}: unknown score {ref!r}; known: {sorted(scores)}")

    for name, recipe in config["recipes"].items():
        if "score" in recipe and recipe["score"] not in scores:  # a recipe samples a whole score file
            raise ConfigError(f"config: recipes.{name}.score: unknown score {recipe['score']!r}; known: {sorted(scores)}")
        if "mix" in recipe and recipe["mix"] not in config["mixes"]:
            raise ConfigError(f"config: recipes.{name}.mix: unknown mix {recipe['mix']!r}; known: {sorted(config['mixes'])}")
    for name, run in config["flyt"]["runs"].items():
        for inp in run.get("inputs", []):
            known(inp, f"flyt.runs.{name}.inputs")
    # every score and mix entry against its method's declared inputs (clipcurate.scores.plan):
    # names exist, keys are used, FLYT runs are of the right kind, no cycles; errors name the key
    from clipcurate.scores.plan import check_scores

    check_scores(config)
    _check_keep_sources(config)


def _check_keep_sources(config: Mapping) -> None:
    """A ``keep`` recipe needs a boolean ``keep`` column: a set mix, or a score method that outputs it."""
    from clipcurate import mixing, scores

    for name, recipe in config["recipes"].items():
        if recipe["sample"].get("method") != "keep":
            continue
        if "mix" in recipe:
            method = config["mixes"][recipe["mix"]]["method"]
            if method not in mixing.SET_METHODS:
                raise ConfigError(
                    f"config: recipes.{name}.sample.method: 'keep' needs a boolean keep column, but mix "
                    f"{recipe['mix']!r} ({method}) gives only a score; use one of {list(mixing.SET_METHODS)} or a sampler"
                )
        elif "score" in recipe:
            method = config["scores"][recipe["score"]]["method"]
            try:
                outputs = scores.get(method).outputs
            except Exception:  # an unknown method is the score job's error (it lists the known ones)
                continue
            if "keep" not in outputs:
                raise ConfigError(
                    f"config: recipes.{name}.sample.method: 'keep' needs a boolean keep column, but score "
                    f"{recipe['score']!r} ({method}) gives {list(outputs)}; use a sampler (threshold, scs, ...)"
                )


# --------------------------------------------------------------------------------------------
# the whole check, as the Snakefile runs it


def prepare(config: dict, repo: str | Path, sources: Sequence[tuple[str, Mapping]] = ()) -> None:
    """Merge the recipe and table files into ``config``, validate it against ``config/schema.yaml``
    and run every cross-check. ``sources`` lists the (name, parsed content) of each config file and
    of ``--config`` in load order, so that errors can name the file that sets a key."""
    repo = Path(repo)
    merge_named_files(config, repo, "recipes")
    merge_named_files(config, repo, "tables")
    validate_schema(config, repo / "config" / "schema.yaml", sources)
    check_config(config, repo)
    check_score_refs(config)


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
    """``python -m clipcurate.config_check [--repo DIR] FILE...``: the checks the Snakefile runs, on
    the shipped config plus FILE... (as ``--configfile FILE...`` would give it), with YAML syntax
    errors located by file, line and column. Exit status 1 and the message on a bad config."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m clipcurate.config_check", description=main.__doc__)
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
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    print("config OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
