"""What every stage shares: the file contracts, each in its own module so that a job's code version
counts only the ones it uses: atomic writes and parquet reads with errors that name the file
(:mod:`~clipcurate.core.fileio`), uid encodings (:mod:`~clipcurate.core.uidcodec`), the pool index
(:mod:`~clipcurate.core.poolindex`), row alignment with it (:mod:`~clipcurate.core.alignment`), the
score and subset files (:mod:`~clipcurate.core.scorefiles`); the code versions that decide which
jobs rerun (:mod:`~clipcurate.core.codeversion`), job logs (:mod:`~clipcurate.core.runlog`) and
progress reporting (:mod:`~clipcurate.core.progress`)."""
