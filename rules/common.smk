# Config access, path helpers and resource helpers shared by all rules: every name here is an
# attribute of one clipcurate.config.wiring.Wiring, built from the config that
# clipcurate.config.check.prepare merged, expanded, validated and cross-checked (the Snakefile calls
# it before this file). The logic and its tests live in src/clipcurate; this file only binds names.
# Everything here runs at parse time, which the Slurm executor repeats in every job: keep it cheap.

from pathlib import Path

from clipcurate.config.wiring import Wiring, POOL_INDEX, METADATA_ROWS, WORLD_DIR

REPO = Path(workflow.basedir)
W = Wiring(config, REPO)

SHOW_REPORTED = bool(config.get("show_reported", False))
SCALE = W.scale
SEED = W.seed
JOB_THREADS = W.job_threads
# On a machine with few cores, jobs that lead to a subset (models, embeddings, scores, mixes,
# samples, reshards) go first, then trainings, then evaluations: every training job starts early,
# instead of the scoring chain or a training waiting behind shorter jobs.
SELECTION_PRIORITY = 2
TRAIN_PRIORITY = 1
DEFAULT_TABLES = ["table1"]
REAL_SCALE = W.real_scale
POOL_SHARDS = W.pool_shards
CHUNKS = W.chunks
DFN_QUALITY_POINTS = W.dfn_quality_points

# config access and models
lookup = W.lookup
model_spec = W.model_spec
model_files = W.model_files
trained_model_cfg = W.trained_model_cfg
precomputed = W.precomputed
metadata_dir = W.metadata_dir
code_version = W.code_version
# resources
slurm_site = W.slurm_site
gpu_jobs = W.gpu_jobs
cpu_resources = W.cpu_resources
gpu_resources = W.gpu_resources
embed_resources = W.embed_resources
# scores and mixes (clipcurate.scores.plan)
score_plan = W.score_plan
reported_score_names = W.reported_score_names
score_stage_inputs = W.score_stage_inputs
score_threads = W.score_threads
score_resources = W.score_resources
score_code = W.score_code
reference_set_dir = W.reference_set_dir
reference_set_input = W.reference_set_input
score_specs = W.score_specs
mix_plan = W.mix_plan
mix_inputs = W.mix_inputs
# trained artifacts (clipcurate.train.trainers; their rules: rules/models.smk)
flyt_run = W.flyt_run
flyt_train = W.flyt_train
trained_label = W.trained_label
# samples, training, evaluation, embeddings
recipe_score_file = W.recipe_score_file
recipe_within_file = W.recipe_within_file
recipe_scale = W.recipe_scale
recipe_n_target = W.recipe_n_target
SAMPLE_CONSTRAINTS = W.sample_constraints()
extra_reference_dirs = W.extra_reference_dirs
extra_reference_inputs = W.extra_reference_inputs
suite_path = W.suite_path
suite_content = W.suite_content
eval_root = W.eval_root
eval_input = W.eval_input
embed_inputs = W.embed_inputs
embed_spec = W.embed_spec
variant_plan = W.variant_plan
variant_inputs = W.variant_inputs
variant_code = W.variant_code
variant_names = W.variant_names
# tables, auxiliary models and reports
recipe_oracles = W.recipe_oracles
table_rows = W.table_rows
table_params = W.table_params
table_dropped = W.table_dropped
table_inputs = W.table_inputs
score_quality_inputs = W.score_quality_inputs
quality_scores = W.quality_scores
quality_recipes = W.quality_recipes
dfn_quality_inputs = W.dfn_quality_inputs
CLAIMS = W.claims
CLAIMS_RUNS = W.claims_runs
claims_targets = W.claims_targets
claims_rows_only = W.claims_rows_only
claims_run_files = W.claims_run_files
claims_run_dirs = W.claims_run_dirs
CALLER_CONFIGFILES, CALLER_OVERRIDES = W.caller_config(workflow.overwrite_configfiles, workflow.config_settings.config)
