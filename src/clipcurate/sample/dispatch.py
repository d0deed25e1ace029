"""A recipe's score-based sampler, by name: ``threshold``, ``scs``, ``hcs``, ``nocap`` (:func:`draw`).

The recipe-level methods that take no score (``all``) or a column as is (``keep``, ``counts``) are
:mod:`clipcurate.sample.subset`'s.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from clipcurate.sample.hcs import hcs, nocap
from clipcurate.sample.scs import scs
from clipcurate.sample.threshold import threshold_top_fraction
from clipcurate.sample.validate import SamplingError, check_param, check_params


def draw(method: str, s, n_target, params: Mapping | None, seed, where: str = "sample") -> np.ndarray:
    """Counts for a recipe's sampler: ``method`` in :data:`~clipcurate.sample.validate.METHODS`, ``params`` its parameters.

    * ``threshold``: ``fraction`` (``n_target`` is not used: the size is :func:`clipcurate.sample.topk.top_count`);
    * ``scs``: ``alpha`` (required), ``group_size`` (default :func:`clipcurate.sample.scs.default_group_size`);
    * ``hcs``: ``beta`` (required), ``batch_size`` (optional, speed only);
    * ``nocap``: no parameter.

    Every error is a :class:`SamplingError` naming the key under ``where`` (``recipes.<name>.sample``
    when a recipe is sampled): the method and parameters are checked first (:func:`~clipcurate.sample.validate.check_params`;
    ``n_target`` is checked as ``{where}.n``, the recipe key that sets N); errors that depend on the
    scores (non-finite scores, ``beta * M < N``, a round larger than the pool) are prefixed with ``where``.
    """
    p = check_params(method, params, where)
    n = None if method == "threshold" else check_param("n", n_target, where)
    try:
        if method == "threshold":
            return threshold_top_fraction(s, p["fraction"])
        if method == "scs":
            return scs(s, n, p["alpha"], p.get("group_size"), seed)
        if method == "hcs":
            return hcs(s, n, p["beta"], seed, batch_size=p.get("batch_size", 1_000_000))
        return nocap(s, n, seed)
    except SamplingError as err:
        raise SamplingError(f"{where}: {err}") from err
