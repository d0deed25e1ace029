"""Aggregation of per-sample scores into one score or one keep-set (the ``mix`` stage).

Implements the aggregation baselines of FLYT (Shechter & Carmon), §4.2 and Table 2 (right):

* ``sum``: the plain sum of the input scores;
* ``standardized_sum``: every input z-scored over the pool (zero mean, unit std), then summed;
* ``in_weighted``: the ImageNet-weighted standardized sum of Appendix C.5 (weights from the inputs'
  ImageNet accuracies, rescaled so that max(w) / min(w) = r; Table 2 uses r in {2, 4, 8, 16});
* ``weighted_sum``: any linear combination of (optionally standardized) inputs, e.g. the weights a
  trained M-FLYT mixer learned over standardized inputs (§4.2: score = a . z + b; the bias b changes
  neither a ranking nor a softmax, so it is not needed here);

and the set-producing aggregations of prior work that FLYT compares against (§1, Appendix C.4):

* ``intersection`` / ``union`` of per-score top-fraction subsets (DataComp, T-MARS);
* ``two_stage``: the s-CLIPLoss + NormSim recipe (Wang et al.; FLYT Table 10): keep the top p of the
  pool by the first score, then among those the top q of the *original* pool size by the second;

and one that carries repeat counts (a score method's ``count`` column, :mod:`clipcurate.scores`):

* ``filter_counts``: the counts of one input, zeroed where any other input's ``keep`` is false (e.g.
  quality-based duplication restricted to the samples a filter keeps).

Everything works on plain numpy columns of one pool (K columns of M rows). At DataComp medium scale a
dozen float32 columns of 128M rows already take 6 GB, so the score-producing mixes never copy a
column: statistics and linear combinations are computed in row chunks of ``CHUNK_ROWS`` with float64
accumulation inside each chunk, and the only full-size allocation is the float32 output (0.5 GB at
128M rows; ``benchmarks/bench_mixing.py``). The set-producing mixes hold one float32 copy of one column
at a time (for ``np.partition``) plus boolean masks. Inputs are never modified, except by
``standardize(x, out=x)`` when asked to.

``mix`` dispatches on a method name (the ``mix:`` entry of a recipe); :func:`clipcurate.mix.files.mix_files`
is the file-level entry point the workflow's mix rule calls (docs/architecture.md §3:
``results/mixes/{mix}.parquet``), and :mod:`clipcurate.mix.declared` holds the mixes whose weights
come from a trained artifact (M-FLYT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from clipcurate.core import fileio, scorefiles
from clipcurate.core.progress import progress
from clipcurate.sample import topk

#: Rows processed per step. 64K rows keep a float64 work buffer (512 KB) in the L2 cache; measured
#: throughput is flat between 16K and 256K rows.
CHUNK_ROWS = 1 << 16

METHODS = (
    "identity", "sum", "standardized_sum", "weighted_sum", "in_weighted", "intersection", "union", "two_stage",
    "filter_counts",
)
#: methods whose output has a boolean ``keep`` column (a recipe may ``sample: {method: keep}`` them)
SET_METHODS = ("intersection", "union", "two_stage", "filter_counts")
#: methods whose output has a ``count`` column of repeat counts (``sample: {method: counts}``)
COUNT_METHODS = ("filter_counts",)


def outputs(method: str) -> tuple[str, ...]:
    """The columns a mix method writes: ``score`` always, ``keep`` for :data:`SET_METHODS`, ``count``
    for :data:`COUNT_METHODS` (what the planning checks of a recipe's sampler read)."""
    return ("score",) + (("keep",) if method in SET_METHODS else ()) + (("count",) if method in COUNT_METHODS else ())


class MixingError(ValueError):
    """Bad input to a mixing function; the message names the offending column, key or method."""


# --------------------------------------------------------------------------------------------
# input checks


def _columns(cols, names: Sequence[str] | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Normalise ``cols`` (a mapping name -> column, a (K, M) array or a sequence of 1-D arrays)."""
    if isinstance(cols, Mapping):
        if names is None:
            names = [str(n) for n in cols.keys()]
        arrays = [np.asarray(v) for v in cols.values()]
    elif isinstance(cols, np.ndarray):
        if cols.ndim != 2:
            raise MixingError(f"cols: expected a (K, M) array or a sequence of 1-D columns, got shape {cols.shape}")
        arrays = [cols[k] for k in range(cols.shape[0])]  # views: row k of a C-ordered array is contiguous
    else:
        arrays = [np.asarray(v) for v in cols]
    if not arrays:
        raise MixingError("cols: no input columns (the input list is empty)")
    if names is None:
        names = [f"column {k}" for k in range(len(arrays))]
    names = list(names)
    if len(names) != len(arrays):
        raise MixingError(f"names: {len(names)} names for {len(arrays)} columns")
    m = None
    for name, a in zip(names, arrays):
        if a.ndim != 1:
            raise MixingError(f"column {name!r}: expected a 1-D column, got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_) or np.issubdtype(a.dtype, np.complexfloating):
            raise MixingError(f"column {name!r}: expected real numbers, got dtype {a.dtype}")
        if m is None:
            m = len(a)
        elif len(a) != m:
            raise MixingError(
                f"column {name!r} has {len(a)} rows but column {names[0]!r} has {m}; "
                "all columns must be row-aligned with the same pool"
            )
    if m == 0:
        raise MixingError(f"column {names[0]!r}: the columns have no rows")
    return arrays, names


def _check_finite(x: np.ndarray, name: str) -> None:
    # min/max propagate NaN and expose +-inf without allocating anything the size of the column.
    if x.dtype == np.bool_ or np.issubdtype(x.dtype, np.integer):
        return
    lo, hi = x.min(), x.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise MixingError(f"column {name!r} has non-finite values (min {lo}, max {hi}); scores must be finite")


def _check_fraction(f, key: str) -> float:
    if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)):
        raise MixingError(f"{key}: a fraction must be a number in (0, 1], got {f!r}")
    f = float(f)
    if not (0.0 < f <= 1.0):
        raise MixingError(f"{key}: fraction {f} is outside (0, 1]")
    return f


def _check_number(v, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(float(v)):
        raise MixingError(f"{key}: expected a finite number, got {v!r}")
    return float(v)


# --------------------------------------------------------------------------------------------
# standardization (FLYT §4.2, Appendix C.5)


def column_stats(x: np.ndarray, name: str = "x") -> tuple[float, float]:
    """Population mean and standard deviation (ddof=0) of one column over the whole pool.

    One pass in row chunks. Each chunk is shifted by a fixed float64 centre ``c`` (the mean of the
    first chunk) and the sums of ``x - c`` and ``(x - c)**2`` are accumulated in float64; with ``c``
    close to the mean this "shifted data" formula does not suffer the cancellation of the naive
    E[x^2] - E[x]^2. Raises MixingError for a constant column (std 0: z-scores are undefined) and
    for non-finite values.
    """
    x = np.asarray(x)
    if x.ndim != 1 or len(x) == 0:
        raise MixingError(f"column {name!r}: expected a non-empty 1-D column, got shape {x.shape}")
    n = len(x)
    c = float(np.mean(x[:CHUNK_ROWS], dtype=np.float64))
    if not math.isfinite(c):
        raise MixingError(f"column {name!r} has non-finite values; scores must be finite")
    buf = np.empty(min(n, CHUNK_ROWS), dtype=np.float64)
    s1 = s2 = 0.0
    lo, hi = math.inf, -math.inf
    for start in range(0, n, CHUNK_ROWS):
        chunk = x[start : start + CHUNK_ROWS]
        d = buf[: len(chunk)]
        np.subtract(chunk, c, out=d, dtype=np.float64)
        s1 += float(d.sum())
        np.square(d, out=d)  # not np.dot: BLAS would start its own threads
        s2 += float(d.sum())
        lo = min(lo, float(chunk.min()))
        hi = max(hi, float(chunk.max()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise MixingError(f"column {name!r} has non-finite values (min {lo}, max {hi}); scores must be finite")
    d1 = s1 / n
    mean = c + d1
    var = max(s2 / n - d1 * d1, 0.0)
    std = math.sqrt(var)
    # min == max is the exact test for a constant column; std == 0 also catches a variance that
    # underflows, which would make the z-scores infinite just the same.
    if lo == hi or std == 0.0:
        raise MixingError(
            f"column {name!r} is constant (every value is {lo}); it has std 0 and cannot be standardized"
        )
    return mean, std


def standardize(x: np.ndarray, *, name: str = "x", out: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """z-score a column over the pool: ``z = (x - mean) / std`` with the population std (ddof=0).

    FLYT standardizes every input score to zero mean and unit standard deviation over the pool before
    summing or mixing them (§4.2, Appendix C.5; Table 8 shows that dropping it costs 3.6 points of
    ImageNet accuracy). Mean and std are computed with float64 accumulation (``column_stats``); z is
    computed chunk by chunk in float64 and stored as float32. ``out`` may be ``x`` itself (a float32
    column) to standardize in place without any full-size allocation.

    Returns ``(z, mean, std)``; raises MixingError naming the column if it is constant.
    """
    x = np.asarray(x)
    mean, std = column_stats(x, name)
    if out is None:
        out = np.empty(len(x), dtype=np.float32)
    elif out.shape != x.shape or out.dtype != np.float32:
        raise MixingError(f"out: expected a float32 array of shape {x.shape}, got {out.dtype} {out.shape}")
    buf = np.empty(min(len(x), CHUNK_ROWS), dtype=np.float64)
    for start in range(0, len(x), CHUNK_ROWS):
        chunk = x[start : start + CHUNK_ROWS]
        d = buf[: len(chunk)]
        np.subtract(chunk, mean, out=d, dtype=np.float64)
        np.divide(d, std, out=d)
        out[start : start + len(chunk)] = d  # read before write, so out=x is safe
    return out, mean, std


# --------------------------------------------------------------------------------------------
# linear combinations (FLYT §4.2, Table 2 right, Appendix C.5)


@dataclass
class _Linear:
    score: np.ndarray
    weights: list[float]
    means: list[float] | None  # None when the inputs were not standardized
    stds: list[float] | None


def _linear(arrays: list[np.ndarray], names: list[str], weights: Sequence[float], standardized: bool) -> _Linear:
    """score = sum_k w_k * z_k (standardized) or sum_k w_k * x_k, fused and chunked.

    Never materialises a z column: z_k = (x_k - mean_k) / std_k, so the combination is
    sum_k (w_k / std_k) x_k - sum_k w_k mean_k / std_k, accumulated per chunk in float64.
    """
    weights = [float(w) for w in weights]
    if standardized:
        stats = [column_stats(a, n) for a, n in zip(arrays, names)]
        means = [s[0] for s in stats]
        stds = [s[1] for s in stats]
        coefs = [w / s for w, s in zip(weights, stds)]
        const = math.fsum(w * m / s for w, m, s in zip(weights, means, stds))
    else:
        for a, n in zip(arrays, names):
            _check_finite(a, n)
        means = stds = None
        coefs = weights
        const = 0.0
    m = len(arrays[0])
    out = np.empty(m, dtype=np.float32)
    acc = np.empty(min(m, CHUNK_ROWS), dtype=np.float64)
    tmp = np.empty_like(acc)
    bar = progress(total=m, desc=f"mix {len(arrays)} scores", unit="samples", unit_scale=True)
    for start in range(0, m, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, m)
        bar.update(stop - start)
        a = acc[: stop - start]
        t = tmp[: stop - start]
        np.multiply(arrays[0][start:stop], coefs[0], out=a, dtype=np.float64)
        for x, c in zip(arrays[1:], coefs[1:]):
            np.multiply(x[start:stop], c, out=t, dtype=np.float64)
            a += t
        if const:
            a -= const
        out[start:stop] = a
    bar.close()
    return _Linear(out, weights, means, stds)


def _check_weights(weights, k: int, key: str = "weights") -> list[float]:
    weights = list(np.ravel(weights)) if isinstance(weights, np.ndarray) else list(weights)
    if len(weights) != k:
        raise MixingError(f"{key}: {len(weights)} weights for {k} columns")
    weights = [_check_number(w, f"{key}[{i}]") for i, w in enumerate(weights)]
    if all(w == 0.0 for w in weights):
        raise MixingError(f"{key}: every weight is 0, so every example would get the same score")
    return weights


def imagenet_weights(in_accuracies: Sequence[float], r: float) -> np.ndarray:
    """ImageNet-accuracy weights of FLYT Appendix C.5 with max-to-min ratio ``r``.

    w_hat_i = (IN_i - min IN) / (max IN - min IN) (in [0, 1]); w_i = w_hat_i + 1 / (r - 1), so that
    max(w) / min(w) = (1 + 1/(r-1)) / (1/(r-1)) = r. The scale of the accuracies (fractions or
    percent) does not matter. Requires r > 1 and at least two distinct accuracies (otherwise the
    normalisation divides by zero). Returns float64 weights in input order.
    """
    r = _check_number(r, "r")
    if not r > 1.0:
        raise MixingError(f"r: the max-to-min weight ratio must be > 1, got {r}")
    acc = [_check_number(a, f"in_accuracy[{i}]") for i, a in enumerate(in_accuracies)]
    if not acc:
        raise MixingError("in_accuracy: no accuracies given (the input list is empty)")
    acc = np.asarray(acc, dtype=np.float64)
    lo, hi = acc.min(), acc.max()
    if lo == hi:
        raise MixingError(
            f"in_accuracy: needs at least 2 distinct ImageNet accuracies to normalise, got {acc.tolist()}"
        )
    return (acc - lo) / (hi - lo) + 1.0 / (r - 1.0)


# --------------------------------------------------------------------------------------------
# set-producing aggregations


def top_mask(x: np.ndarray, f: float, *, name: str = "x") -> np.ndarray:
    """Boolean mask of the top fraction ``f`` of the pool by ``x``.

    :func:`clipcurate.sample.topk.top_fraction_mask`, the workflow's one top-k (shared with the
    ``threshold`` sampler): exactly n = :func:`~clipcurate.sample.topk.top_count` rows, the n highest
    values, ties at the cut-off to the lowest row indices.
    """
    x = np.asarray(x)
    f = _check_fraction(f, f"fraction for {name!r}")
    _check_finite(x, name)
    return topk.top_fraction_mask(x, f)


def _fractions(fractions, k: int, names: list[str]) -> list[float]:
    if isinstance(fractions, (int, float, np.integer, np.floating)) and not isinstance(fractions, bool):
        fractions = [fractions] * k
    fractions = list(fractions)
    if len(fractions) != k:
        raise MixingError(f"fractions: {len(fractions)} fractions for {k} columns")
    return [_check_fraction(f, f"fractions[{n!r}]") for f, n in zip(fractions, names)]


def intersection_top(cols, fractions, *, names: Sequence[str] | None = None) -> np.ndarray:
    """Keep an example iff it is in the top fraction f_k of the pool by *every* column k.

    The intersection aggregation of DataComp's and T-MARS's filters (FLYT §1 and §2). Each f_k is a
    fraction of the whole pool (``top_mask``: floor(f_k M) rows, ties to lower indices), so the
    result may be much smaller than any f_k. ``fractions`` is one number per column, or one number
    for all.
    """
    arrays, names = _columns(cols, names)
    fr = _fractions(fractions, len(arrays), names)
    keep = top_mask(arrays[0], fr[0], name=names[0])
    for x, f, n in zip(arrays[1:], fr[1:], names[1:]):
        keep &= top_mask(x, f, name=n)
    return keep


def union_top(cols, fractions, *, names: Sequence[str] | None = None) -> np.ndarray:
    """Keep an example iff it is in the top fraction f_k of the pool by *any* column k (see ``intersection_top``)."""
    arrays, names = _columns(cols, names)
    fr = _fractions(fractions, len(arrays), names)
    keep = top_mask(arrays[0], fr[0], name=names[0])
    for x, f, n in zip(arrays[1:], fr[1:], names[1:]):
        keep |= top_mask(x, f, name=n)
    return keep


def two_stage(a: np.ndarray, b: np.ndarray, p: float, q: float, *, names: Sequence[str] = ("a", "b")) -> np.ndarray:
    """The s-CLIPLoss + NormSim two-stage filter (Wang et al.; FLYT Appendix C.4, Table 10).

    Stage 1 keeps the top p of the pool by ``a`` (floor(p M) rows); stage 2 keeps, among those, the
    top floor(q M) rows by ``b``. ``q`` is a fraction of the ORIGINAL pool size, as in the authors'
    code (``--fraction 0.3 --fraction_vas 0.2`` keeps 20 % of the pool), so q must not exceed p.
    Both stages break ties by lower row index (``top_mask``). Returns a boolean keep mask.
    """
    arrays, names = _columns([a, b], names)
    a, b = arrays
    p = _check_fraction(p, "p")
    q = _check_fraction(q, "q")
    if q > p:
        raise MixingError(f"q: the second stage keeps q={q} of the pool, more than the first stage's p={p}")
    first = top_mask(a, p, name=names[0])
    _check_finite(b, names[1])
    idx = np.flatnonzero(first)  # ascending, so position order within idx is pool order
    n2 = topk.top_count(q, len(a))  # q <= p implies n2 <= len(idx)
    keep = np.zeros(len(a), dtype=bool)
    if n2 == 0:
        return keep
    # the n2 highest of the stage-1 subset; ties go to lower positions in idx, i.e. lower pool indices
    sub_keep = topk.top_mask(b[idx], n2)
    keep[idx[sub_keep]] = True
    return keep


def _filter_counts(by_name: Mapping[str, np.ndarray], counts_input: str) -> MixResult:
    """``count`` = the counts input where every other input's ``keep`` is true, 0 elsewhere.

    The counts input must hold non-negative integers (a score's ``count`` column), every other input
    booleans (a ``keep`` column); the error names the input. Also writes ``keep = count > 0`` and
    ``score = count`` (float32), as the set mixes do.
    """
    try:
        count = scorefiles.check_counts(by_name[counts_input], f"filter_counts: input {counts_input!r} (params['counts'])")
    except fileio.ContractError as e:
        raise MixingError(f"{e}; name a score's count column, e.g. `<score>:count`") from None
    keep = np.ones(len(count), dtype=bool)
    for name, col in by_name.items():
        if name == counts_input:
            continue
        if col.dtype != np.bool_:
            raise MixingError(f"filter_counts: input {name!r} has dtype {col.dtype}; expected a boolean keep column, e.g. `<score>:keep`")
        keep &= col
    out = np.where(keep, count, 0).astype(np.uint32)
    stats = {
        "count_in": int(count.sum(dtype=np.int64)),
        "rows_in": int(np.count_nonzero(count)),
        "count": int(out.sum(dtype=np.int64)),
        "keep": int(np.count_nonzero(out)),
    }
    return MixResult({"score": out.astype(np.float32), "keep": out > 0, "count": out}, counts=stats)


# --------------------------------------------------------------------------------------------
# dispatcher

# method -> (required params, optional params)
_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "identity": ((), ("input",)),
    "sum": ((), ()),
    "standardized_sum": ((), ()),
    "weighted_sum": (("weights",), ("standardize",)),
    "in_weighted": (("in_accuracy", "r"), ()),
    "intersection": (("fractions",), ()),
    "union": (("fractions",), ()),
    "two_stage": (("first", "second", "p", "q"), ()),
    "filter_counts": (("counts",), ()),
}


@dataclass
class MixResult:
    """What ``mix_details`` computed: the output columns and what went into them (for stats.json)."""

    columns: dict[str, np.ndarray]
    means: dict[str, float] | None = None  # per input, when the method standardized its inputs
    stds: dict[str, float] | None = None
    weights: dict[str, float] | None = None  # per input, for linear mixes
    counts: dict[str, int] = field(default_factory=dict)  # rows kept (set mixes)


def _per_input(method: str, key: str, value, names: list[str]) -> dict[str, Any]:
    """Check a params dict keyed by input name: every key is an input and every input has a key."""
    if not isinstance(value, Mapping):
        raise MixingError(f"{method}: params[{key!r}] must map input names to values, got {value!r}")
    for k in value:
        if k not in names:
            raise MixingError(f"{method}: params[{key!r}] names unknown input {k!r}; known inputs: {names}")
    missing = [n for n in names if n not in value]
    if missing:
        raise MixingError(f"{method}: params[{key!r}] has no entry for input(s) {missing}; known inputs: {names}")
    return dict(value)


def check_params(method: str, names: Sequence[str], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``method`` and ``params`` against the input names, before any data is read.

    Returns the params with defaults filled in. Raises MixingError naming the unknown method,
    parameter or input name, with the known ones.
    """
    names = [str(n) for n in names]
    if method not in _PARAMS:
        raise MixingError(f"unknown mixing method {method!r}; known methods: {list(METHODS)}")
    if not names:
        raise MixingError(f"{method}: no inputs (the input list is empty)")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise MixingError(f"{method}: input name {dup!r} is used twice")
    params = dict(params or {})
    required, optional = _PARAMS[method]
    for k in params:
        if k not in required + optional:
            raise MixingError(f"{method}: unknown parameter {k!r}; known parameters: {list(required + optional)}")
    for k in required:
        if k not in params:
            raise MixingError(f"{method}: missing parameter {k!r}; it needs {list(required)}")

    if method == "identity":
        inp = params.get("input")
        if inp is None:
            if len(names) != 1:
                raise MixingError(f"identity: passes one input through but got {names}; name one with params['input']")
            params["input"] = names[0]
        elif inp not in names:
            raise MixingError(f"identity: params['input'] names unknown input {inp!r}; known inputs: {names}")
    elif method == "weighted_sum":
        w = _per_input(method, "weights", params["weights"], names)
        params["weights"] = {n: _check_number(w[n], f"weights[{n!r}]") for n in names}
        std = params.setdefault("standardize", True)  # FLYT: standardized inputs mix better (§4.2, Table 8)
        if not isinstance(std, bool):
            raise MixingError(f"weighted_sum: params['standardize'] must be true or false, got {std!r}")
    elif method == "in_weighted":
        acc = _per_input(method, "in_accuracy", params["in_accuracy"], names)
        params["in_accuracy"] = {n: _check_number(acc[n], f"in_accuracy[{n!r}]") for n in names}
        r = _check_number(params["r"], "r")
        if not r > 1.0:
            raise MixingError(f"in_weighted: r (the max-to-min weight ratio) must be > 1, got {r}")
        if len(set(params["in_accuracy"].values())) < 2:
            raise MixingError(
                f"in_weighted: in_accuracy needs at least 2 distinct ImageNet accuracies to normalise, "
                f"got {params['in_accuracy']}"
            )
    elif method in ("intersection", "union"):
        fr = params["fractions"]
        if isinstance(fr, (int, float)) and not isinstance(fr, bool):
            fr = {n: fr for n in names}  # one fraction for every input
        fr = _per_input(method, "fractions", fr, names)
        params["fractions"] = {n: _check_fraction(fr[n], f"fractions[{n!r}]") for n in names}
    elif method == "two_stage":
        for k in ("first", "second"):
            if params[k] not in names:
                raise MixingError(f"two_stage: params[{k!r}] names unknown input {params[k]!r}; known inputs: {names}")
        unused = [n for n in names if n not in (params["first"], params["second"])]
        if unused:
            raise MixingError(f"two_stage: uses only params['first'] and params['second']; input(s) {unused} are unused")
        p = _check_fraction(params["p"], "p")
        q = _check_fraction(params["q"], "q")
        if q > p:
            raise MixingError(f"two_stage: q={q} (a fraction of the original pool) exceeds p={p}")
        params["p"], params["q"] = p, q
    elif method == "filter_counts":
        if params["counts"] not in names:
            raise MixingError(f"filter_counts: params['counts'] names unknown input {params['counts']!r}; known inputs: {names}")
        if len(names) < 2:
            raise MixingError(
                f"filter_counts: needs at least one keep input besides the counts input {params['counts']!r}; got {names}"
            )
    return params


def mix_details(method: str, cols: Mapping[str, np.ndarray], params: Mapping[str, Any] | None = None) -> MixResult:
    """``mix`` plus what went into it: per-input mean/std used for standardization, weights, counts."""
    if not isinstance(cols, Mapping):
        raise MixingError(f"{method}: cols must map input names to columns, got {type(cols).__name__}")
    names = [str(n) for n in cols]
    params = check_params(method, names, params)
    arrays, names = _columns(cols, names)
    by_name = dict(zip(names, arrays))

    if method == "identity":
        x = by_name[params["input"]]
        _check_finite(x, params["input"])
        out = {"score": x.astype(np.float32, copy=False)}
        if x.dtype == np.bool_:  # a rule filter's keep column stays a keep-set
            out["keep"] = x
        return MixResult(out, weights={params["input"]: 1.0})

    if method in ("sum", "standardized_sum", "weighted_sum", "in_weighted"):
        if method == "sum":
            w, std = [1.0] * len(names), False
        elif method == "standardized_sum":
            w, std = [1.0] * len(names), True
        elif method == "weighted_sum":
            w, std = _check_weights([params["weights"][n] for n in names], len(names)), params["standardize"]
        else:
            w, std = imagenet_weights([params["in_accuracy"][n] for n in names], params["r"]).tolist(), True
        lin = _linear(arrays, names, w, standardized=std)
        return MixResult(
            {"score": lin.score},
            means=dict(zip(names, lin.means)) if lin.means is not None else None,
            stds=dict(zip(names, lin.stds)) if lin.stds is not None else None,
            weights=dict(zip(names, lin.weights)),
        )

    counts: dict[str, int] = {}
    if method == "filter_counts":
        return _filter_counts(by_name, params["counts"])
    if method in ("intersection", "union"):
        fr = [params["fractions"][n] for n in names]
        keep = (intersection_top if method == "intersection" else union_top)(arrays, fr, names=names)
        for n, f in zip(names, fr):
            counts[f"top_{n}"] = topk.top_count(f, len(keep))
    else:
        first, second = params["first"], params["second"]
        keep = two_stage(by_name[first], by_name[second], params["p"], params["q"], names=(first, second))
        counts["first_stage"] = topk.top_count(params["p"], len(keep))
    counts["keep"] = int(np.count_nonzero(keep))
    return MixResult({"score": keep.astype(np.float32), "keep": keep}, counts=counts)


def mix(method: str, cols: Mapping[str, np.ndarray], params: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Aggregate named score columns with one of ``METHODS``; returns the output columns.

    Methods and their params:

    * ``identity`` (``input``, optional when there is one input): the column passed through;
    * ``sum``; ``standardized_sum``: FLYT Table 2's "Sum" and "Standardized Sum";
    * ``weighted_sum`` (``weights``: name -> w, ``standardize``: bool, default true): sum_k w_k z_k;
    * ``in_weighted`` (``in_accuracy``: name -> ImageNet accuracy, ``r``): FLYT Appendix C.5;
    * ``intersection`` / ``union`` (``fractions``: name -> top fraction, or one number for all);
    * ``two_stage`` (``first``, ``second``, ``p``, ``q``): s-CLIPLoss then NormSim;
    * ``filter_counts`` (``counts``: the input holding repeat counts; the others are keep columns).

    Score-producing methods return ``{"score": float32}``; set-producing ones (intersection, union,
    two_stage) return ``{"score": float32 1.0/0.0, "keep": bool}``; ``filter_counts`` returns
    ``{"score": float32 count, "keep": count > 0, "count": uint32}``. Every per-input params dict
    must name each input exactly; unknown methods, parameters or input names raise MixingError.
    """
    return mix_details(method, cols, params).columns
