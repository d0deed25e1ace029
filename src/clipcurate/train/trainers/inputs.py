"""The typed inputs a trainer declares (its contract with the workflow).

A trainer names what its rule reads with these small frozen dataclasses; its config entry supplies
the names (which model, which reference set, which scores). From the declaration alone the workflow
derives the rule's input files (:meth:`files`) and the cross-reference checks run when the config
is loaded (:meth:`check`, errors naming the key), so a trainer module needs neither a hand-written
input function nor a hand-written check. ``key`` may be dotted (``train.dataset``) for a nested key.

=======================  ===============================================================
kind                     rule input
=======================  ===============================================================
``ModelWeights``         the weights of the model named by the entry, when made here
``PoolEmbeddings``       every chunk's pool embeddings by the model the entry names
``ReferenceEmbeddings``  one reference set's embeddings by the entry's model
``ScoreFiles``           the score files the entry names (``name`` or ``name:column``)
``PoolShards``           the pool index and its webdataset shards (``index``, ``shards``)
``ReferenceSets``        reference sets named by the entry: the world's, or the user's shard folders
``Folder``               a folder the entry names, or the world when it names none
``InitWeights``          the weights a training starts from, when made here (``results/...``)
=======================  ===============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

WORLD_DIR = "resources/world"
POOL_INDEX = "results/pool/index.parquet"

_MISSING = object()


def entry_get(entry: Mapping, key: str, default: Any = _MISSING) -> Any:
    """``entry[key]`` for a dotted ``key`` (``train.dataset``); ``default`` when absent (else KeyError)."""
    node: Any = entry
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node or node[part] is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def _error(message: str):
    from clipcurate.config.errors import ConfigError

    return ConfigError(message)


@dataclass(frozen=True)
class _Input:
    """``when(entry)``: the input exists only for entries it accepts (e.g. a pool replacement)."""

    def wanted(self, entry: Mapping) -> bool:
        when = getattr(self, "when", None)
        return when is None or bool(when(entry))


@dataclass(frozen=True)
class ModelWeights(_Input):
    """The model named by ``entry[key]``: it must exist; its weights are an input when made here."""

    key: str = "model"
    when: Optional[Callable] = None

    def check(self, entry, config, key):
        name = entry_get(entry, self.key)
        if name not in config["models"]:
            raise _error(f"config: {key}.{self.key}: unknown model {name!r}; known: {sorted(config['models'])}")

    def files(self, arg, entry, w) -> dict:
        return {arg: w.model_files(entry_get(entry, self.key))}

    def models(self, entry) -> list[str]:
        return [entry_get(entry, self.key)]


@dataclass(frozen=True)
class PoolEmbeddings(_Input):
    """Every chunk's pool embeddings by the model named by ``entry[model_key]``."""

    model_key: str = "model"
    when: Optional[Callable] = None

    def check(self, entry, config, key):
        ModelWeights(self.model_key).check(entry, config, key)

    def files(self, arg, entry, w) -> dict:
        from clipcurate.scores.plan import embeddings_path

        return {arg: [embeddings_path(entry_get(entry, self.model_key), "plain", c) for c in w.chunks]}

    def models(self, entry) -> list[str]:
        return [entry_get(entry, self.model_key)]


@dataclass(frozen=True)
class ReferenceEmbeddings(_Input):
    """The embeddings of the reference set ``entry[set_key]`` by the model ``entry[model_key]``."""

    set_key: str = "positive"
    model_key: str = "model"
    when: Optional[Callable] = None

    def check(self, entry, config, key):
        """The set is one of the world's or the user's. That a world set exists only with the world as
        pool is checked when a job asks for it (a real-scale config may keep an unused default entry)."""
        from clipcurate.scores.plan import WORLD_REFERENCE_SETS

        ModelWeights(self.model_key).check(entry, config, key)
        known = {*WORLD_REFERENCE_SETS, *(config.get("reference_sets") or {})}
        if entry_get(entry, self.set_key) not in known:
            raise _error(
                f"config: {key}.{self.set_key}: unknown reference set {entry_get(entry, self.set_key)!r}; known: {sorted(known)} "
                "(the world's sets, and reference_sets: for a user's set)"
            )

    def files(self, arg, entry, w) -> dict:
        from clipcurate.scores.plan import reference_embeddings_path

        return {arg: reference_embeddings_path(entry_get(entry, self.model_key), entry_get(entry, self.set_key))}

    def models(self, entry) -> list[str]:
        return [entry_get(entry, self.model_key)]


@dataclass(frozen=True)
class ScoreFiles(_Input):
    """The score files named by ``entry[key]`` (``name`` or ``name:column``, a list)."""

    key: str = "inputs"
    when: Optional[Callable] = None

    def check(self, entry, config, key):
        for ref in entry_get(entry, self.key):
            if str(ref).split(":")[0] not in config["scores"]:
                raise _error(f"config: {key}.{self.key}: unknown score {ref!r}; known: {sorted(config['scores'])}")

    def files(self, arg, entry, w) -> dict:
        from clipcurate.scores.plan import score_specs

        return {arg: [path for _, path, _ in score_specs(entry_get(entry, self.key))]}

    def scores(self, entry) -> list[str]:
        return [str(r).split(":")[0] for r in entry_get(entry, self.key)]


@dataclass(frozen=True)
class PoolShards(_Input):
    """The pool index and its webdataset shards (rule inputs ``index`` and ``shards``)."""

    when: Optional[Callable] = None

    def check(self, entry, config, key):
        return None

    def files(self, arg, entry, w) -> dict:
        return {"index": POOL_INDEX, "shards": w.pool_shards}


@dataclass(frozen=True)
class ReferenceSets(_Input):
    """The reference sets named by ``entry[key]`` (one name or a list; their union): the world's
    (the input is then the world itself: a subfolder cannot be an input of its own) or the user's
    shard folders (``reference_sets:``, e.g. an HQ set at real scale). :meth:`folders` gives the
    job each set's folder."""

    key: str = "dataset"
    when: Optional[Callable] = None

    def names(self, entry) -> list[str]:
        value = entry_get(entry, self.key)
        return [value] if isinstance(value, str) else list(value)

    def check(self, entry, config, key):
        from clipcurate.scores.plan import WORLD_REFERENCE_SETS

        known = {*WORLD_REFERENCE_SETS, *(config.get("reference_sets") or {})}
        for one in self.names(entry):
            if one not in known:
                raise _error(
                    f"config: {key}.{self.key}: unknown reference set {one!r}; known: {sorted(known)} "
                    "(the world's sets, and reference_sets: for a user's set)"
                )

    def folders(self, entry, config) -> dict[str, str]:
        """Set name -> shard folder, for the job's params."""
        from clipcurate.scores.plan import reference_sets

        sets = reference_sets(config)
        missing = [n for n in self.names(entry) if n not in sets]
        if missing:
            raise _error(f"config: train.{self.key}: reference set {missing[0]!r} exists only in the tiny world "
                         f"(pool.source: world); give its shard folder under reference_sets:")
        return {n: sets[n] for n in self.names(entry)}

    def files(self, arg, entry, w) -> dict:
        user = w.config.get("reference_sets") or {}
        out = [user[n] for n in self.names(entry) if n in user]
        if any(n not in user for n in self.names(entry)):
            out.append(WORLD_DIR)
        return {arg: out[0] if len(out) == 1 else out}  # one folder: a path, as the world's trainers read it


@dataclass(frozen=True)
class Folder(_Input):
    """A folder named by ``entry[key]``, or the world when the entry names none (``default`` inside it)."""

    key: str = "downstream"
    when: Optional[Callable] = None

    def check(self, entry, config, key):
        return None

    def files(self, arg, entry, w) -> dict:
        return {arg: entry_get(entry, self.key, None) or WORLD_DIR}


@dataclass(frozen=True)
class InitWeights(_Input):
    """The weights a training starts from (``entry[key]``): an input when this workflow makes them."""

    key: str = "pretrained"
    when: Optional[Callable] = None

    def check(self, entry, config, key):
        return None

    def files(self, arg, entry, w) -> dict:
        init = str(entry_get(entry, self.key, "") or "")
        return {arg: init} if init.startswith("results/") else {}


KINDS = (ModelWeights, PoolEmbeddings, ReferenceEmbeddings, ScoreFiles, PoolShards, ReferenceSets, Folder, InitWeights)
