"""The evaluation stage: zero-shot evaluation with clip_benchmark as DataComp runs it
(:mod:`~clipcurate.evaluate.run`), DataComp's task-specific metrics
(:mod:`~clipcurate.evaluate.datacomp_tasks`) and the torch-free aggregation of results
(:mod:`~clipcurate.evaluate.results`)."""
