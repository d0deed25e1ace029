"""The report stage: paper tables (:mod:`~clipcurate.report.tables`) with their uncertainties
(:mod:`~clipcurate.report.uncertainty`), charts (:mod:`~clipcurate.report.plots`,
:mod:`~clipcurate.report.figure_list`), the filter-quality report against the tiny world's truth
(:mod:`~clipcurate.report.quality`), claims decided over runs (:mod:`~clipcurate.report.claims`) and
the HTML report (:mod:`~clipcurate.report.html`)."""
