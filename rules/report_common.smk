# Report wiring shared by rules/tables.smk (and the report(...) flags of other rules): the report's
# categories, one-line descriptions of recipes and scores for captions, and the figures of a table
# (clipcurate.config.wiring.Wiring: table_figures, table_figure_inputs, describe_score, describe_recipe).

REPORT_CAT = {
    "pool": "1. Pool and download",
    "scores": "2. Scores and filter quality",
    "subsets": "3. Subsets",
    "training": "4. Training",
    "evaluation": "5. Evaluation",
    "tables": "6. Paper tables",
}

world_truth_input = W.world_truth_input
describe_score = W.describe_score
describe_recipe = W.describe_recipe
table_figures = W.table_figures
table_figure_inputs = W.table_figure_inputs
