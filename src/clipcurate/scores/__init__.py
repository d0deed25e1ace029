"""The score-method registry (docs/architecture.md, section 5).

A method is one entry: a name, its level (``chunk``: computed per chunk of the pool from that
chunk's inputs; ``pool``: computed once over the whole pool), its typed inputs
(:mod:`clipcurate.scores.inputs`: embeddings of a model and image variant, metadata columns,
reference-set embeddings, trained artifacts, other scores, the ground truth), its outputs
(``score``: float32, higher is better; ``keep``: bool; ``count``: non-negative integer repeat counts,
how many times each sample enters the training set, taken as is by a recipe's ``sample: {method:
counts}``), its default parameters and its function.
Adding a method means adding one module that calls :func:`register` and one config entry under
``scores:``; the planner (:mod:`clipcurate.scores.plan`) derives the rule inputs and params and the
runner (:mod:`clipcurate.scores.runner`) loads the inputs and writes the score file.

The function is called as ``func(params, **loaded_inputs)`` and returns a dict whose keys are a
subset of the declared outputs.

A pool-level method that cannot hold the pool is *staged* (:mod:`clipcurate.scores.stages`):
declared at chunk level with ``stages=Stages(prepare=..., fit=..., group=...)``, its registered
function is the per-chunk apply, called as ``func(params, ctx, [fitted], [prepared], **inputs)``.
Any method may declare its jobs' ``resources`` per stage (:class:`~clipcurate.scores.stages.Resources`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Mapping

from clipcurate.scores.inputs import KINDS, Truth
from clipcurate.scores.stages import Resources, Stages, check_declaration

OUTPUTS = ("score", "keep", "count")
#: Rule-input names the runner uses itself; a method's input cannot take them.
RESERVED = ("index", "chunks")


@dataclass(frozen=True)
class Method:
    name: str
    level: str  # "chunk" or "pool"
    inputs: Mapping  # argument name -> input kind (clipcurate.scores.inputs)
    outputs: tuple[str, ...]
    func: Callable
    defaults: Mapping = field(default_factory=dict)
    check: Callable | None = None  # optional check(entry, config, key) of cross-references
    report: bool = False  # the function also returns "report": a JSON-able dict (pool-level methods)
    module: str = ""
    doc: str = ""
    stages: Stages | None = None  # a staged method's prepare/fit/group (clipcurate.scores.stages)
    resources: Mapping = field(default_factory=dict)  # stage -> Resources of its jobs

    @property
    def oracle(self) -> bool:
        """Reads the tiny world's ground truth: for upper bounds only, never planned at real scale."""
        return any(isinstance(k, Truth) for k in self.inputs.values())


REGISTRY: dict[str, Method] = {}


class UnknownMethodError(KeyError):
    def __str__(self):
        return self.args[0]


def register(name: str, level: str, inputs: Mapping, outputs=("score",), defaults=None, check=None, report=False,
             stages: Stages | None = None, resources: Mapping[str, Resources] | None = None):
    """Decorator adding a score function to the registry.

    ``inputs`` maps the function's keyword arguments to input kinds; ``outputs`` is any of
    ``score``, ``keep`` and ``count``, plus further named float columns (identifiers, e.g. NormSim's
    ``inf`` and ``l2``) that mixes and FLYT runs read as ``name:column``; ``defaults`` are the parameters the config entry's ``params:`` override;
    ``check(entry, config, key)`` may raise ValueError for cross-references the input kinds cannot
    express (errors naming ``key``, e.g. ``scores.<name>``). With ``report=True`` (pool-level
    methods only) the function also returns ``"report"``, a JSON-able dict the workflow writes to
    ``results/scores/<name>.report.json`` and the log (e.g. an import's coverage).
    ``stages`` makes a chunk-level method staged (a fit before its per-chunk apply, a per-cluster
    group after it: :mod:`clipcurate.scores.stages`); ``resources`` maps a stage (``prepare``,
    ``fit``, ``apply``, ``group``, ``gather``) to the :class:`Resources` its jobs ask for.
    """
    if level not in ("chunk", "pool"):
        raise ValueError(f"method {name}: level must be 'chunk' or 'pool', got {level!r}")
    if not isinstance(inputs, Mapping):
        raise ValueError(f"method {name}: inputs must map argument names to input kinds, got {inputs!r}")
    for arg, kind in inputs.items():
        if not isinstance(kind, KINDS):
            raise ValueError(f"method {name}: input {arg!r} is {kind!r}, not an input kind of clipcurate.scores.inputs")
        if arg in RESERVED or arg == "params" or not arg.isidentifier() or "__" in arg:
            raise ValueError(f"method {name}: input name {arg!r} is reserved, has '__' (the planner's own names) or is not an identifier")
    if report and level != "pool":
        raise ValueError(f"method {name}: report=True needs level='pool'")
    outputs = tuple(outputs)
    if not outputs or any(not isinstance(o, str) or not o.isidentifier() or o in ("uid", *RESERVED) for o in outputs) \
            or len(set(outputs)) != len(outputs):
        raise ValueError(f"method {name}: outputs must be distinct column names: any of {OUTPUTS} and further float "
                         f"columns named by identifiers (not 'uid'), got {outputs}")
    check_declaration(name, level, inputs, stages, resources, defaults or {})

    def wrap(func):
        old = REGISTRY.get(name)
        if old is not None and (old.module, old.func.__qualname__) != (func.__module__, func.__qualname__):
            raise ValueError(f"score method {name!r} registered twice")
        REGISTRY[name] = Method(name, level, dict(inputs), outputs, func, dict(defaults or {}), check, bool(report),
                                func.__module__, func.__doc__ or "", stages, dict(resources or {}))
        return func

    return wrap


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("inputs", "plan", "mixplan", "runner", "stages", "groups"):
            importlib.import_module(f"{__name__}.{mod.name}")


def get(name: str) -> Method:
    _load_all()
    if name not in REGISTRY:
        raise UnknownMethodError(f"unknown score method {name!r}; known methods: {sorted(REGISTRY)}")
    return REGISTRY[name]


def known() -> list[str]:
    _load_all()
    return sorted(REGISTRY)
