"""The workflow's configuration as a stage: checks, expansion and the resolution rules depend on.

* :mod:`clipcurate.config.checks`: cross-key checks of the pool, evaluation and table sections
  (run by :func:`clipcurate.config.check.prepare`, so ``python -m clipcurate.config.check`` and
  the Snakefile accept the same configs);
* :mod:`clipcurate.config.expand`: config blocks that expand into entries (the DFN data-quality
  experiment's models, scores and recipes), run before the entries are validated;
* :mod:`clipcurate.config.wiring`: :class:`~clipcurate.config.wiring.Wiring`, every path, input,
  parameter and resource function the rules call. The ``.smk`` files only wire: each of their
  names is an attribute of one ``Wiring`` (``rules/common.smk``), so all of it is unit-tested here.

Loading, the schema and the other checks are in :mod:`clipcurate.config.check`; score and mix
planning in :mod:`clipcurate.scores.plan`; trainers in :mod:`clipcurate.train.trainers`.
"""
