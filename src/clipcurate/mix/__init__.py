"""The mix stage: aggregations of per-sample scores into one score, keep-set or repeat counts
(:mod:`~clipcurate.mix.aggregate`), and their planning from config (:mod:`~clipcurate.mix.plan`)."""
