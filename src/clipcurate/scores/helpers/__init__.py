"""Parts that score methods share: fastText language ID (:mod:`~clipcurate.scores.helpers.langid`),
the WordNet reader (:mod:`~clipcurate.scores.helpers.wordnet`), DataComp's filter rules
(:mod:`~clipcurate.scores.helpers.datacomp_filters`) and the binary classifier heads
(:mod:`~clipcurate.scores.helpers.classifier`)."""
