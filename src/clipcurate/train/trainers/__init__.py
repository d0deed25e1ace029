"""Trainers as plug-ins: every rule that trains an artifact a score or mix reads.

A trainer module in this package calls :func:`register` with a :class:`Trainer`: its config section
(``classifiers``, ``flyt.runs``, ``models`` with a ``train:`` key ...) and which entries of it it
trains, the inputs it reads (typed kinds of :mod:`clipcurate.train.trainers.inputs`), the files it
writes, its parameters, script, environment and resources, and the JSON-schema fragment of its
config. From that declaration alone:

* ``rules/models.smk`` defines one rule per trainer, in a loop over :func:`trainers`, with its
  input function, outputs, wildcard constraint, params, resources, log and conda environment
  (:class:`clipcurate.config.wiring.Wiring` resolves them);
* :func:`schema` adds the fragments to ``config/schema.yaml`` before the config is validated;
* :func:`check_config` runs the cross-reference checks of every entry (its inputs' names exist);
* a score or mix whose declared ``Artifact`` path is one of a trainer's outputs
  (``results/classifiers/{classifier}/classifier.pt``) is planned against that trainer: the entry
  it names must exist and be one this trainer trains (:func:`producer`), so a score that names an
  M-FLYT run where an E-FLYT head is needed is refused when the config is loaded.

A new trainer (an ITM head, a digit detector, a text detector) is one module here, a script in
``workflow/scripts/`` and its config entries; nothing else names it.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
import string
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

from clipcurate.train.trainers.inputs import KINDS


@dataclass(frozen=True)
class Trainer:
    """One kind of trained artifact and the rule that makes it.

    * ``name``: the rule's name (``train_classifier``); ``label``: what one entry is, for messages
      (``E-FLYT run``);
    * ``section``: the config path of its entries (``("flyt", "runs")``), and ``select(entry)``:
      which of them it trains (``None``: all), described for messages by ``select_doc``;
    * ``wildcard``: the wildcard naming an entry in its paths (``flyt``);
    * ``inputs``: rule input name -> input kind (:mod:`clipcurate.train.trainers.inputs`);
    * ``outputs``: rule output name -> path template with ``{<wildcard>}``; ``reports``: output
      name -> ``report(...)`` flags (caption file under report/, subcategory, labels);
    * ``params``: rule param name -> ``f(entry, name, wiring)`` (JSON-able; ``code`` is added);
    * ``script``: ``workflow/scripts/<script>.py``; ``env``: ``envs/<env>.yaml``;
    * ``resources``: ``mem_mb``, ``runtime`` (minutes), ``gpus`` (an int, or ``"scale"`` for
      ``scale.gpus``); ``gpu: False`` makes it a CPU job;
    * ``check(entry, name, config, key)``: cross-checks the input kinds cannot express;
    * ``figure``: the report's figure of one entry (path template), if any.
    """

    name: str
    label: str
    section: tuple
    wildcard: str
    inputs: Mapping
    outputs: Mapping
    params: Mapping
    script: str
    env: str = "torch"
    resources: Mapping = field(default_factory=lambda: {"mem_mb": 16000, "runtime": 4 * 60, "gpus": 1})
    gpu: bool = True
    select: Optional[Callable] = None
    select_doc: str = ""
    check: Optional[Callable] = None
    reports: Mapping = field(default_factory=dict)
    figure: Optional[str] = None
    module: str = ""

    @property
    def key(self) -> str:
        """The config key of the section (``flyt.runs``)."""
        return ".".join(self.section)

    @property
    def log(self) -> str:
        return f"logs/{self.script}/{{{self.wildcard}}}.log"

    @property
    def benchmark(self) -> str:
        return f"results/benchmarks/{self.script}/{{{self.wildcard}}}.tsv"

    def section_of(self, config: Mapping) -> Mapping:
        node = config
        for part in self.section:
            node = (node or {}).get(part) if isinstance(node, Mapping) else None
        return node or {}

    def entries(self, config: Mapping) -> dict:
        """The entries of its section it trains, by name."""
        return {n: e for n, e in self.section_of(config).items() if isinstance(e, Mapping) and (self.select is None or self.select(e))}

    def entry(self, config: Mapping, name: str) -> Mapping:
        entries = self.entries(config)
        if name not in entries:
            raise KeyError(f"{self.key}.{name} is no {self.label}; known: {sorted(entries)}")
        return entries[name]

    def output_paths(self, name: str) -> dict:
        return {k: v.format(**{self.wildcard: name}) for k, v in self.outputs.items()}


REGISTRY: dict[str, Trainer] = {}
#: JSON-schema fragments: (path in the schema, fragment), added by :func:`register_schema`
SCHEMA_FRAGMENTS: dict[tuple, dict] = {}


def register(trainer: Trainer) -> Trainer:
    """Add a trainer to the registry (a module's import does it); a bad declaration is refused."""
    for arg, kind in trainer.inputs.items():
        if not isinstance(kind, KINDS):
            raise ValueError(f"trainer {trainer.name}: input {arg!r} is {kind!r}, not a kind of clipcurate.train.trainers.inputs")
    for out, path in trainer.outputs.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(path) if f}
        if fields != {trainer.wildcard}:
            raise ValueError(f"trainer {trainer.name}: output {out} {path!r} must have exactly the field {{{trainer.wildcard}}}")
    for other in REGISTRY.values():
        if other.name == trainer.name:
            continue
        clash = set(other.outputs.values()) & set(trainer.outputs.values())
        if clash and other.module != trainer.module:
            raise ValueError(f"trainer {trainer.name}: output {sorted(clash)[0]} is already trainer {other.name}'s")
    old = REGISTRY.get(trainer.name)
    if old is not None and old.module != trainer.module:
        raise ValueError(f"trainer {trainer.name!r} registered twice ({old.module}, {trainer.module})")
    REGISTRY[trainer.name] = trainer
    return trainer


def register_schema(path: tuple, fragment: Mapping) -> None:
    """Place ``fragment`` at ``path`` of the config schema (e.g. ``("properties", "classifiers")``)."""
    SCHEMA_FRAGMENTS[tuple(path)] = dict(fragment)


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name != "inputs":
            importlib.import_module(f"{__name__}.{mod.name}")


def trainers() -> list[Trainer]:
    """Every registered trainer, in name order."""
    _load_all()
    return [REGISTRY[n] for n in sorted(REGISTRY)]


def get(name: str) -> Trainer:
    _load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown trainer {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def schema(base: Mapping) -> dict:
    """``base`` (config/schema.yaml) with every trainer's fragment in place."""
    _load_all()
    out = copy.deepcopy(dict(base))
    for path, fragment in sorted(SCHEMA_FRAGMENTS.items()):
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = copy.deepcopy(fragment)
    return out


def producer(template: str) -> Optional[Trainer]:
    """The trainer one of whose outputs is the path template ``template``, or None."""
    for t in trainers():
        if template in t.outputs.values():
            return t
    return None


def artifact_of(path: str) -> Optional[tuple[Trainer, str]]:
    """(trainer, entry name) of a concrete artifact path a trainer writes, or None."""
    for t in trainers():
        for template in t.outputs.values():
            head, _, tail = template.partition(f"{{{t.wildcard}}}")
            p = str(path)
            if p.startswith(head) and p.endswith(tail) and len(p) > len(head) + len(tail):
                name = p[len(head): len(p) - len(tail)]
                if "/" not in name:
                    return t, name
    return None


def check_imported(path, key: str, method: str, file: str, own: str, example: str, use_instead: str = "") -> str:
    """The path of a trained artifact imported from another working directory (``mflyt_import``'s
    mixer, ``eflyt_import``'s head; ``key``: the config key naming it), as planning checks it: given,
    not an artifact this working directory trains itself (``own``: "the mixer", "a head"), and a
    file. ``file`` says what it is ("a trained M-FLYT run's mixer.json"), ``example`` where such a
    file lies in the medium run, ``use_instead`` what to configure for this directory's own one.
    Errors are ``ValueError`` naming ``key``; returns the path."""
    from pathlib import Path

    if not isinstance(path, str) or not path:
        raise ValueError(f"config: {key}: required by method {method!r} (the path of {file}, e.g. the medium "
                         f"run's <its --directory>/{example})")
    if artifact_of(path) is not None:
        raise ValueError(f"config: {key}: {path} is {own} this working directory trains itself; {use_instead}give "
                         "the trained run's file from its own working directory (an absolute path, or a copy elsewhere)")
    if not Path(path).is_file():
        raise ValueError(f"config: {key}: {path} is not a file; expected {file} "
                         "(relative paths are read from the workflow's working directory)")
    return path


def check_reference(trainer: Trainer, config: Mapping, value, key: str) -> None:
    """``value`` (the entry a score or mix names under ``key``) is one that ``trainer`` trains."""
    from clipcurate.config.errors import ConfigError

    section = trainer.section_of(config)
    if value not in section:
        raise ConfigError(
            f"config: {key}: unknown {trainer.label} {value!r}; known {trainer.key}: {', '.join(sorted(section)) or '(none)'}"
        )
    if value not in trainer.entries(config):
        raise ConfigError(
            f"config: {key}: {trainer.key}.{value} is no {trainer.label} ({trainer.select_doc}); "
            f"those are: {', '.join(sorted(trainer.entries(config))) or '(none)'}"
        )


def check_config(config: Mapping) -> None:
    """Every trained entry's cross-references: its inputs' names exist, then the trainer's own check."""
    for t in trainers():
        for name, entry in t.entries(config).items():
            key = f"{t.key}.{name}"
            for kind in t.inputs.values():
                if kind.wanted(entry):
                    kind.check(entry, config, key)
            if t.check is not None:
                t.check(entry, name, config, key)
