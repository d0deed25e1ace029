"""The ``sample`` stage: from a pool's score column (or its ``keep`` / ``count`` column) to counts.

A sampler returns ``counts``: one non-negative integer per pool row, in the index's canonical order,
saying how many times the example enters the training set. :mod:`clipcurate.sample.subset` turns a recipe's
counts into its subset files. The modules, one job each:

* :mod:`~clipcurate.sample.validate` -- :class:`SamplingError`, the checks of scores and of the
  sampler parameters (the contract ``config/schema.yaml``'s ``$defs/sample`` mirrors);
* :mod:`~clipcurate.sample.topk` -- the one top-k: how many rows a top fraction keeps and which
  (documented against DataComp's ``get_threshold``); the mixes use it too;
* :mod:`~clipcurate.sample.threshold` -- the "keep the top x %" sampler built on it;
* :mod:`~clipcurate.sample.rng` -- the counter-based random numbers of the samplers below;
* :mod:`~clipcurate.sample.race` -- the exact continuous-time path (SCS with G = 1, HCS, no cap);
* :mod:`~clipcurate.sample.scs` -- Soft Cap Sampling (FLYT Algorithm 2), its rounds path;
* :mod:`~clipcurate.sample.hcs` -- Hard Cap Sampling and no-cap sampling;
* :mod:`~clipcurate.sample.dispatch` -- a recipe's sampler method and parameters to counts;
* :mod:`~clipcurate.sample.counts` -- count vectors: checks, a ``count`` column taken as is, repetition statistics;
* :mod:`~clipcurate.sample.histogram` -- the repetition histogram (FLYT Figure 2).

This file imports nothing, so that a module importing one of them (the mixes import
:mod:`~clipcurate.sample.topk`) does not take the others into its code version
(:mod:`clipcurate.core.codeversion`).
"""
