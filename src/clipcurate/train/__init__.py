"""The training stage: DataComp-style CLIP training with open_clip_train (:mod:`~clipcurate.train.run`,
:mod:`~clipcurate.train.entry`), the trainer plug-ins that make the artifacts score methods use
(:mod:`clipcurate.train.trainers`: reference CLIPs, DFNs, classifiers, FLYT), FLYT's meta-gradient
training (:mod:`clipcurate.train.flyt`), DFN training data (:mod:`~clipcurate.train.dfn`) and the
one cosine schedule (:mod:`~clipcurate.train.lr_schedule`)."""
