# Report wiring shared by rules/tables.smk (and the report(...) flags of other rules): the report's
# categories, one-line descriptions of recipes and scores for captions, and the figures of a table.

REPORT_CAT = {
    "pool": "1. Pool and download",
    "scores": "2. Scores and filter quality",
    "subsets": "3. Subsets",
    "training": "4. Training",
    "evaluation": "5. Evaluation",
    "tables": "6. Paper tables",
}


def world_truth_input(wildcards=None):
    """The world directory (its truth.parquet gives each sample's kind) where the pool is the world's."""
    return [] if REAL_SCALE else WORLD_DIR


def describe_score(name):
    """One line saying how a score is computed (its method and resolved inputs), for captions."""
    plan = score_plan(name)
    parts = [f"method {plan.method}"]
    for arg, spec in plan.inputs.items():
        if spec["kind"] == "embeddings":
            parts.append(f"embeddings of model {spec['model']}" + (f" ({spec['variant']} images)" if spec["variant"] != "plain" else ""))
        elif spec["kind"] == "reference":
            parts.append(f"reference set {spec['set']} by model {spec['model']}")
        elif spec["kind"] == "metadata":
            parts.append(f"metadata {', '.join(spec['columns'])}")
        elif spec["kind"] == "scores":
            parts.append(f"scores {', '.join(ref[0] for ref in spec['refs'])}")
        elif spec["kind"] == "artifact":
            parts.append(f"trained {spec['path']}")
        else:
            parts.append(spec["kind"])
    if plan.params:
        parts.append(f"params {plan.params}")
    return ", ".join(parts)


def describe_recipe(name):
    """One line saying how a recipe selects its subset (for captions and table notes)."""
    r = lookup("recipes", name)
    sample = dict(r.get("sample") or {})
    method = sample.pop("method", "?")
    sampler = f"{method}({', '.join(f'{k}={v}' for k, v in sample.items())})"
    if "mix" in r:
        m = mix_plan(r["mix"])
        return f"mix {r['mix']} ({m.method} of {', '.join(m.inputs)}) -> sampler {sampler}"
    if "score" in r:
        return f"score {r['score']} ({describe_score(r['score'])}) -> sampler {sampler}"
    return f"sampler {sampler}"


def _flyt_of(path):
    """The FLYT run whose trained file ``path`` is (results/flyt/<run>/...), else None."""
    parts = str(path).split("/")
    return parts[2] if len(parts) > 3 and parts[:2] == ["results", "flyt"] else None


def _score_closure(scores, flyts, models):
    """Extend the sets of scores, FLYT runs and models with what they are computed from, following
    each score's declared inputs (clipcurate.scores.plan)."""
    todo = list(scores)
    while todo:
        plan = score_plan(todo.pop())
        for spec in plan.inputs.values():
            if spec["kind"] in ("embeddings", "reference"):
                models.add(spec["model"])
            elif spec["kind"] == "artifact" and _flyt_of(spec["path"]):
                flyts.add(_flyt_of(spec["path"]))
            elif spec["kind"] == "scores":
                new = {ref[0].split(":")[0] for ref in spec["refs"]} - scores
                scores.update(new)
                todo.extend(new)
    for f in list(flyts):
        run = flyt_run(f)
        models.update(m for m in (run.get("reference_model"), run.get("embed_model")) if m)
        new = {inp.split(":")[0] for inp in run.get("inputs", [])} - scores
        if new:
            scores.update(new)
            _score_closure(new, flyts, models)


def table_figures(table_name):
    """The report's figures for one table: the pool, every score, FLYT run and trained model its
    rows use, and each row's training curve and per-task evaluation (all already in its DAG)."""
    recipes = [row["recipe"] for row in table_rows(table_name)[0]]
    scores, flyts, models = set(), set(), set()
    for name in recipes:
        r = lookup("recipes", name)
        if "score" in r:
            scores.add(r["score"])
        if "mix" in r:
            m = mix_plan(r["mix"])
            scores.update(i.split(":")[0] for i in m.inputs)
            flyts.update(f for f in map(_flyt_of, m.artifacts.values()) if f)
    _score_closure(scores, flyts, models)
    for f in flyts:
        models.add(flyt_run(f)["reference_model"])
    return {
        "pool": "results/figures/pool/download.png",
        "scores": [f"results/figures/scores/{s}.png" for s in sorted(scores)],
        "flyt": [f"results/figures/flyt/{f}.png" for f in sorted(flyts)],
        "models": [f"results/figures/models/{m}.png" for m in sorted(models) if lookup("models", m).get("train")],
        "train": [f"results/figures/train/{r}.png" for r in recipes],
        "eval": [f"results/figures/eval/{r}.html" for r in recipes],
        # the tiny world knows each sample's kind: how clean each row's subset is
        "quality": [f"results/figures/quality/{table_name}.png"] if not REAL_SCALE else [],
    }


def table_figure_inputs(wildcards):
    """The figures of a table as named inputs (fig_pool, fig_scores, ...) of rule table_figures;
    the table itself does not wait for them."""
    return {f"fig_{k}": v for k, v in table_figures(wildcards.table).items()}


def check_table_plots():
    """A `plot: {kind: lines}` table draws columns of its own: each must be one of its columns."""
    for name, table in config["tables"].items():
        plot = table.get("plot") or {}
        if plot.get("kind") != "lines":
            continue
        for key, cols in (("x", [plot.get("x", "dataset size")]), ("panels", plot.get("panels") or ["ImageNet", "Average"])):
            for c in cols:
                if c not in table["columns"]:
                    raise ValueError(f"config: tables.{name}.plot.{key}: {c!r} is not among the table's columns {table['columns']}")
