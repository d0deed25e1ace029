"""Checks of a sampler's inputs: the score vector, the integer and real parameters, a recipe's
``sample`` section (:data:`METHODS`, :func:`check_params`).

The bounds are those of ``$defs/sample`` in config/schema.yaml; they are repeated here because the
library is also called without the schema (tests, notebooks, other drivers), and a test compares the
two. Every error is a :class:`SamplingError` naming the parameter (``recipes.<name>.sample.<key>`` for
a recipe) and what was expected.
"""

from __future__ import annotations

import math
import numbers
from typing import Mapping

import numpy as np

#: score-based samplers understood by :func:`clipcurate.sample.dispatch.draw`, with the parameters
#: each accepts (``n``, the target size, is handled by the caller: see :mod:`clipcurate.sample.subset`).
METHODS: dict[str, tuple[str, ...]] = {
    "threshold": ("fraction",),
    "scs": ("alpha", "group_size"),
    "hcs": ("beta", "batch_size"),
    "nocap": (),
}

#: parameters each sampler requires (the other ones in :data:`METHODS` are optional).
REQUIRED: dict[str, tuple[str, ...]] = {"threshold": ("fraction",), "scs": ("alpha",), "hcs": ("beta",), "nocap": ()}

#: integer parameters of a recipe's ``sample`` section, all >= 1 (``n`` is the target dataset size N).
_INT_PARAMS = ("n", "group_size", "beta", "batch_size")


class SamplingError(ValueError):
    """Bad sampler input; the message names the parameter and what was expected."""


def as_scores(s) -> np.ndarray:
    """Validate the score vector: 1-D, non-empty, real, finite. float32/float64 are kept (no copy)."""
    arr = np.asarray(s)
    if arr.ndim != 1:
        raise SamplingError(f"scores: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise SamplingError("scores: expected a non-empty array, got 0 elements")
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise SamplingError(f"scores: expected real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.size >= 2**32:
        raise SamplingError(f"scores: at most 2**32 - 1 examples are supported, got {arr.size}")
    step = 1 << 22
    for start in range(0, arr.size, step):
        part = arr[start : start + step]
        ok = np.isfinite(part)
        if not ok.all():
            bad = start + int(np.flatnonzero(~ok)[0])
            raise SamplingError(f"scores: expected finite values, found {arr[bad]!r} at index {bad}")
    return arr


def as_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """An integer parameter (Python/numpy ints, or floats with an integral value) within bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, numbers.Real)):
        raise SamplingError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if not isinstance(value, numbers.Integral):
        if not math.isfinite(value) or not float(value).is_integer():
            raise SamplingError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    v = int(value)
    if v < minimum:
        raise SamplingError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if maximum is not None and v > maximum:
        raise SamplingError(f"{name}: expected an integer <= {maximum}, got {value!r}")
    return v


def as_n_target(n_target) -> int:
    # counts are int32, so N must fit in one
    return as_int("n_target", n_target, 1, 2**31 - 1)


def as_alpha(alpha) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise SamplingError(f"alpha: expected a number >= 0 (inf allowed), got {alpha!r}")
    a = float(alpha)
    if math.isnan(a) or a < 0:
        raise SamplingError(f"alpha: expected a number >= 0 (inf allowed), got {alpha!r}")
    return a


def as_seed(seed) -> int:
    # an explicit integer: the workflow promises byte-identical subsets for the same config
    return as_int("seed", seed, 0)


def as_fraction(fraction) -> float:
    """A top fraction: a real number in (0, 1]."""
    if isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, numbers.Real):
        raise SamplingError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f <= 1.0):
        raise SamplingError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    return f


def _show(value) -> str:
    """``repr`` of a config value, numpy scalars shown as plain numbers (``-1``, not ``np.int64(-1)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_param(key: str, value, where: str = "sample"):
    """One sampler parameter, validated and normalised (``fraction`` and ``alpha`` float, the others int).

    The bounds are those of ``$defs/sample`` in config/schema.yaml (fraction in (0, 1], alpha >= 0,
    beta, n, group_size, batch_size integers >= 1). They are repeated here because the library is also
    called without the schema (tests, notebooks, other drivers). The error names the key as
    ``{where}.{key}`` (``recipes.<name>.sample.alpha`` for a recipe), the bound and the value given, e.g.
    ``recipes.x.sample.alpha: must be >= 0, got -1``.
    """
    name = f"{where}.{key}"
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if key == "fraction":
        if real and 0.0 < float(value) <= 1.0:
            return float(value)
        raise SamplingError(f"{name}: must be in (0, 1], got {_show(value)}")
    if key == "alpha":
        if real and float(value) >= 0.0:  # NaN fails; inf is allowed (sampling without replacement)
            return float(value)
        raise SamplingError(f"{name}: must be >= 0, got {_show(value)}")
    if key in _INT_PARAMS:
        if real and math.isfinite(value) and float(value).is_integer() and value >= 1:
            return int(value)
        raise SamplingError(f"{name}: must be an integer >= 1, got {_show(value)}")
    known = ", ".join(sorted({"fraction", "alpha", *_INT_PARAMS}))
    raise SamplingError(f"{name}: unknown sampler parameter; known: {known}")


def check_params(method: str, params: Mapping | None, where: str = "sample") -> dict:
    """A sampler's method and parameters, validated: known method, no unknown or missing parameter,
    values within bounds (:func:`check_param`). Returns the normalised parameters.

    Checked before any sampling so that a bad recipe fails at once, with the key ``{where}.<param>``
    in the message, rather than deep inside a sampler after the scores were read. ``group_size: None``
    is kept (it means :func:`clipcurate.sample.scs.default_group_size`).
    """
    if method not in METHODS:
        raise SamplingError(f"{where}.method: unknown sampler {method!r}; known: {', '.join(sorted(METHODS))}")
    p = dict(params or {})
    for key in sorted(set(p) - set(METHODS[method])):
        takes = list(METHODS[method]) or "no parameter"
        raise SamplingError(f"{where}.{key}: sampler {method!r} does not take {key!r}; it takes {takes}")
    for key in REQUIRED[method]:
        if key not in p:
            raise SamplingError(f"{where}.{key}: sampler {method!r} needs parameter {key!r}")
    return {k: (v if (k == "group_size" and v is None) else check_param(k, v, where)) for k, v in p.items()}


