"""The pool stage: download with img2dataset into webdataset shards and the pool index
(:mod:`~clipcurate.pool.download`), DataComp's precomputed embeddings and metadata
(:mod:`~clipcurate.pool.precomputed`, :mod:`~clipcurate.pool.metadata_check`), and the resharding of
a subset into training shards (:mod:`~clipcurate.pool.reshard`)."""
