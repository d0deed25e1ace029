"""The image-variant registry: one module per variant (docs/architecture.md, "Adding a variant").

A variant is a transform of the pool's images before a model embeds them: ``plain`` (the images as
given), ``hflip`` (flipped left-right: the Devil paper's flipped CLIP score), ``textmask`` (text regions
found by PP-OCR's detector filled with their mean colour, T-MARS). A variant module calls :func:`register`
with

- its ``name`` (the ``{variant}`` of ``results/embeddings/{model}/{variant}/{chunk}.parquet``),
- its image transform ``func(image, params, artifacts) -> image`` (a PIL RGB image in and out),
- its parameters with their defaults (``embed.variants.<name>.params`` in the config overrides them),
- optionally the files it needs (``artifacts``: argument name -> path template formatted with the
  resolved params, e.g. a text detector's weights); they become inputs of the variant's embed jobs,
- optionally why it cannot run yet (``unavailable``): planning a score that needs it then stops with
  that reason, naming the config key,
- optionally a ``check(params)`` raising ValueError for a bad parameter value, called when a score's
  plan resolves the variant (so a bad value stops planning, not an embed job).

Everything else derives from these declarations: the variants a score may ask for
(:mod:`clipcurate.scores.inputs`), the ``variant`` wildcard of ``rules/embed.smk``, the transform
the embed job applies (:mod:`clipcurate.embed.encode`), the job's params (:func:`plan_variant`) and its code
version (only its own module, :func:`code_modules`). A variant embeds only images: the scores that
read it take the text vectors from the model's plain embeddings (:mod:`clipcurate.scores.runner`).

This package becomes ``embed/variants/`` when the library is laid out by stage.
"""

from __future__ import annotations

import importlib
import pkgutil
import string
from dataclasses import dataclass, field
from typing import Callable, Mapping

#: The variant whose embeddings carry the text vectors too; every other variant reuses them.
PLAIN = "plain"


@dataclass(frozen=True)
class Variant:
    name: str
    func: Callable  # func(image: PIL.Image.Image, params: dict, artifacts: dict[str, str]) -> PIL.Image.Image
    defaults: Mapping = field(default_factory=dict)
    artifacts: Mapping = field(default_factory=dict)  # argument name -> path template over the params
    unavailable: str = ""  # why it cannot be embedded yet ("" when it can)
    module: str = ""
    doc: str = ""
    check: Callable | None = None  # check(params) raises ValueError for a bad value (at planning time)

    @property
    def available(self) -> bool:
        return not self.unavailable


REGISTRY: dict[str, Variant] = {}


class VariantConfigError(ValueError):
    """A variant named in the config does not exist, cannot run yet, or has a bad parameter; the
    message names the config key."""


def register(name: str, defaults=None, artifacts=None, unavailable: str = "", check: Callable | None = None):
    """Decorator adding an image transform to the registry (see the module docstring)."""
    if not name.isidentifier():
        raise ValueError(f"variant {name!r}: the name must be an identifier (it is a path component and a wildcard value)")
    artifacts = dict(artifacts or {})
    defaults = dict(defaults or {})
    for arg, template in artifacts.items():
        if arg in ("index", "shards", "model") or not arg.isidentifier():
            raise ValueError(f"variant {name}: artifact name {arg!r} is one of the embed job's own inputs or not an identifier")
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        if fields - set(defaults):
            raise ValueError(f"variant {name}: artifact {arg!r} ({template}) names {sorted(fields - set(defaults))}, "
                             f"which are not among its parameters {sorted(defaults)}")

    def wrap(func):
        old = REGISTRY.get(name)
        if old is not None and (old.module, old.func.__qualname__) != (func.__module__, func.__qualname__):
            raise ValueError(f"image variant {name!r} registered twice ({old.module} and {func.__module__})")
        REGISTRY[name] = Variant(name, func, defaults, artifacts, unavailable, func.__module__, (func.__doc__ or "").strip(), check)
        return func

    return wrap


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")


def names() -> tuple[str, ...]:
    """Every declared variant, available or not."""
    _load_all()
    return tuple(sorted(REGISTRY))


def available() -> tuple[str, ...]:
    """The variants the embed rule can produce."""
    return tuple(n for n in names() if REGISTRY[n].available)


def get(name: str) -> Variant:
    _load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown image variant {name!r}; known variants: {sorted(REGISTRY)}")
    return REGISTRY[name]


def wildcard_regex() -> str:
    """The ``{variant}`` constraint of the variant embed rule: every available variant but plain
    (whose embeddings keep the short path); never matches when there is none."""
    import re

    others = [re.escape(n) for n in available() if n != PLAIN]
    return "|".join(others) if others else "(?!)"


def plan_variant(config: Mapping, name: str) -> dict:
    """The variant ``name`` resolved against the config: its params (defaults overridden by
    ``embed.variants.<name>.params``) and artifact paths. This dict is the embed job's ``variant``
    param, so a changed parameter reruns exactly that variant's embeddings.

    Raises VariantConfigError naming the key for an unknown or unavailable variant or parameter.
    """
    section = (config.get("embed") or {}).get("variants") or {}
    if name not in names():
        raise VariantConfigError(f"config: unknown image variant {name!r}; known variants: {list(names())}")
    v = REGISTRY[name]
    if not v.available:
        raise VariantConfigError(f"config: image variant {name!r} is not available yet ({v.unavailable}); available: {list(available())}")
    entry = section.get(name) or {}
    given = dict(entry.get("params") or {})
    unknown = sorted(set(given) - set(v.defaults))
    if unknown:
        raise VariantConfigError(
            f"config: embed.variants.{name}.params.{unknown[0]}: unknown parameter of variant {name!r}; known: {sorted(v.defaults)}"
        )
    params = {**v.defaults, **given}
    if v.check is not None:
        try:
            v.check(params)
        except ValueError as e:
            raise VariantConfigError(f"config: embed.variants.{name}.params: {e}") from e
    artifacts = {}
    for arg, template in v.artifacts.items():
        path = template.format(**params)
        if not path or path == "None":
            raise VariantConfigError(f"config: embed.variants.{name}.params: variant {name!r} needs its {arg} ({template}) set")
        artifacts[arg] = path
    return {"name": name, "params": params, "artifacts": artifacts}


def check_config(config: Mapping) -> None:
    """Every entry of ``embed.variants`` names a declared variant and only its parameters (the
    available check waits until a score asks for the variant: a config may keep settings of a
    variant it does not use)."""
    section = (config.get("embed") or {}).get("variants") or {}
    for name, entry in section.items():
        if name not in names():
            raise VariantConfigError(f"config: embed.variants.{name}: unknown image variant; known variants: {list(names())}")
        given = dict((entry or {}).get("params") or {})
        unknown = sorted(set(given) - set(REGISTRY[name].defaults))
        if unknown:
            raise VariantConfigError(
                f"config: embed.variants.{name}.params.{unknown[0]}: unknown parameter of variant {name!r}; "
                f"known: {sorted(REGISTRY[name].defaults)}"
            )


def code_modules(name: str) -> tuple[str, ...]:
    """The plug-in modules an embed job of variant ``name`` runs (for its code version): its own."""
    return (get(name).module,)


def transform(name: str, params: Mapping | None = None, artifacts: Mapping | None = None) -> Callable:
    """The variant's image transform with its params bound: ``image -> image``."""
    v = get(name)
    if not v.available:
        raise ValueError(f"image variant {name!r} is not available ({v.unavailable}); available: {list(available())}")
    bound = {**v.defaults, **dict(params or {})}
    files = dict(artifacts or {})
    return lambda image: v.func(image, bound, files)
