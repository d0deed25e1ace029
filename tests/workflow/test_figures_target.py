"""A table waits only for what its numbers need; its figures are their own targets
(results/figures/{table}.txt and `figures`, rules/tables.smk), which the report is built with.

Planned through Snakemake's API on the micro config (no job runs); the expected files are listed
by hand from config/tables/table1.yaml and config/recipes.
"""

import pytest
from snakemake.io import get_flag_value, is_flagged

from .plan import plan
from .test_slurm import REPO

RECIPES = ["no_filter", "clip_score_top30", "gt_clean"]  # table1's rows
TABLE1_FIGURES = {
    "results/figures/pool/download.png",
    "results/figures/scores/clip_score.png",       # clip_score_top30 samples by it
    "results/figures/scores/truth_clean.png",      # gt_clean samples by the ground-truth oracle
    "results/figures/models/openai.png",           # the reference model clip_score embeds with (trained here)
    "results/figures/quality/table1.png",          # tiny world only
    *(f"results/figures/train/{r}.png" for r in RECIPES),
    *(f"results/figures/eval/{r}.html" for r in RECIPES),
}


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    def _plan(*targets):
        jobs = plan(REPO / "Snakefile", tmp_path_factory.mktemp("work"), [REPO / "tests/workflow/micro.yaml"], list(targets))
        return {job.rule.name: [j for j in jobs if j.rule.name == job.rule.name] for job in jobs}
    return _plan


def test_table_waits_for_its_evaluations_and_no_figure(planned):
    jobs = planned("results/tables/table1.csv")
    (table,) = jobs["table"]
    assert sorted(map(str, table.input)) == sorted(
        [f"results/eval/{r}.jsonl" for r in RECIPES] + [f"results/subsets/{r}.parquet" for r in RECIPES])
    assert [name for name in jobs if "figure" in name] == []
    assert len(jobs["evaluate"]) == len(RECIPES)


@pytest.mark.parametrize("target", ["results/figures/table1.txt", "figures"])
def test_figures_target_plans_every_figure_of_the_table_and_not_the_table(planned, target):
    jobs = planned(target)
    (lister,) = jobs["table_figures"]
    assert set(map(str, lister.input)) == TABLE1_FIGURES
    assert str(lister.output.txt) == "results/figures/table1.txt"
    assert "table" not in jobs
    # the report gathers what these jobs flag report(...): every listed figure is among them
    flagged = {str(f) for js in jobs.values() for j in js for f in j.output if is_flagged(f, "report")}
    assert TABLE1_FIGURES <= flagged
    assert all(get_flag_value(f, "report").category for js in jobs.values() for j in js
               for f in j.output if is_flagged(f, "report"))
