"""The score-method registry (docs/architecture.md, section 5).

A method is one entry: a name, its level (``chunk``: computed per chunk of the pool from that
chunk's inputs; ``pool``: computed once over the whole pool), what it reads (embeddings of a model,
metadata columns, reference sets), its output columns, its default parameters and its function.
Adding a method means adding one module that calls :func:`register` and one config entry under
``scores:``; no other method changes.

Every score file has ``uid`` plus float32 columns, row-aligned with the pool index, higher is
better; rule-style filters add a boolean ``keep``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable, Mapping


@dataclass(frozen=True)
class Method:
    name: str
    level: str  # "chunk" or "pool"
    inputs: tuple[str, ...]  # e.g. ("embeddings",), ("truth",), ("metadata",)
    outputs: tuple[str, ...]
    func: Callable
    defaults: Mapping = field(default_factory=dict)
    oracle: bool = False  # reads the tiny world's ground truth: for upper bounds only
    doc: str = ""


REGISTRY: dict[str, Method] = {}


class UnknownMethodError(KeyError):
    def __str__(self):
        return self.args[0]


def register(name: str, level: str, inputs, outputs, defaults=None, oracle: bool = False):
    """Decorator adding a score function to the registry."""
    if level not in ("chunk", "pool"):
        raise ValueError(f"method {name}: level must be 'chunk' or 'pool'")

    def wrap(func):
        if name in REGISTRY:
            raise ValueError(f"score method {name!r} registered twice")
        REGISTRY[name] = Method(name, level, tuple(inputs), tuple(outputs), func, dict(defaults or {}), oracle, func.__doc__ or "")
        return func

    return wrap


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def get(name: str) -> Method:
    _load_all()
    if name not in REGISTRY:
        raise UnknownMethodError(f"unknown score method {name!r}; known methods: {sorted(REGISTRY)}")
    return REGISTRY[name]


def known() -> list[str]:
    _load_all()
    return sorted(REGISTRY)
