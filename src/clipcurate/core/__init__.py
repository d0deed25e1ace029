"""What every stage shares: the file formats and their checks (:mod:`~clipcurate.core.io`), the code
versions that decide which jobs rerun (:mod:`~clipcurate.core.codeversion`), job logs
(:mod:`~clipcurate.core.runlog`) and progress reporting (:mod:`~clipcurate.core.progress`)."""
