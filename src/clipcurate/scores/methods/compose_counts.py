"""Repeat counts composed from several stages' outputs: the "Devil is in the Details" pipeline's
distribution-alignment stages stacked on its filters (config/recipes/devil.yaml).

``inputs`` names ``score:count`` columns (CIDS's resampled counts, quality duplication's w1/w2
copies) and ``score:keep`` filters (everything the earlier stages removed). A row's count is the
**product** of the count inputs, times 0 where any keep input is false: a sample CIDS drew twice and
quality duplication gives w2 = 2 copies enters 4 times, and one an earlier filter removed enters
none (the ``filter_counts`` mix is the case of a single count input). Then, optionally, in this
order:

* ``upweight``: a keep column (e.g. the digit detector's ``digits:keep``) whose rows with count > 0
  are multiplied by ``upweight_factor``;
* ``add_back``: a keep column whose rows that have count 0 get ``add_back_count`` copies: samples
  showing digits return even if a filter removed them (they are not also up-weighted).

With no count input the base count is 1 per kept row (a pure intersection of keeps, as counts).
Recipes take the column with ``sample: {method: counts}``.
"""

from __future__ import annotations

import numpy as np

from clipcurate.scores import register
from clipcurate.scores.inputs import Scores


def _refs(value):
    return [value] if isinstance(value, str) else list(value or [])


def _check(entry, config, key):
    refs = _refs(entry.get("inputs"))
    bad = [r for r in refs if not (str(r).endswith(":count") or str(r).endswith(":keep"))]
    if not refs or bad:
        raise ValueError(f"config: {key}.inputs: expected score columns written 'name:count' or 'name:keep', got {bad or refs}")
    p = entry.get("params") or {}
    for opt, factor in (("add_back", "add_back_count"), ("upweight", "upweight_factor")):
        ref = p.get(opt)
        if ref is not None:
            if not str(ref).endswith(":keep"):
                raise ValueError(f"config: {key}.params.{opt}: expected a keep column 'name:keep', got {ref!r}")
            if ref not in refs:
                raise ValueError(f"config: {key}.params.{opt}: {ref!r} must also be listed in {key}.inputs (so that it is read)")
        if factor in p and (not isinstance(p[factor], int) or isinstance(p[factor], bool) or p[factor] < 1):
            raise ValueError(f"config: {key}.params.{factor}: expected an integer >= 1, got {p[factor]!r}")


@register(
    "compose_counts",
    level="pool",
    inputs={"cols": Scores(key="inputs")},
    outputs=("count",),
    defaults={"add_back": None, "add_back_count": 1, "upweight": None, "upweight_factor": 2},
    check=_check,
)
def compose_counts(params: dict, cols: dict) -> dict[str, np.ndarray]:
    """Product of the count inputs, zeroed by the keep inputs (except the add-back/up-weight columns,
    which act after), then add-back and up-weighting."""
    special = {params.get("add_back"), params.get("upweight")} - {None}
    n = len(next(iter(cols.values())))
    count = np.ones(n, np.int64)
    for ref, v in cols.items():
        if ref in special:
            continue
        v = np.asarray(v)
        if ref.endswith(":keep"):
            if v.dtype != np.bool_:
                raise ValueError(f"compose_counts: input {ref!r} is not a boolean keep column (dtype {v.dtype})")
            count[~v] = 0
        else:
            c = np.asarray(np.rint(v), np.int64)
            if (c < 0).any() or not np.allclose(c, v):
                raise ValueError(f"compose_counts: input {ref!r} holds negative or non-integer counts")
            count *= c
    if params.get("upweight") is not None:
        up = np.asarray(cols[params["upweight"]], bool)
        count[up & (count > 0)] *= int(params["upweight_factor"])
    if params.get("add_back") is not None:
        back = np.asarray(cols[params["add_back"]], bool)
        count[back & (count == 0)] = int(params["add_back_count"])
    return {"count": count.astype(np.uint32)}
