# Report wiring shared by rules/tables.smk (and the report(...) flags of other rules): the report's
# categories, one-line descriptions of recipes and scores for captions, and the figures a table requests.

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
    return WORLD_DIR if config["pool"]["source"] == "world" else []


def describe_score(name):
    s = lookup("scores", name)
    parts = [f"method {s['method']}"]
    if s.get("model"):
        parts.append(f"on embeddings of model {s['model']}")
    if s.get("flyt"):
        parts.append(f"FLYT run {s['flyt']}")
    if s.get("params"):
        parts.append(f"params {s['params']}")
    return ", ".join(parts)


def describe_recipe(name):
    """One line saying how a recipe selects its subset (for captions and table notes)."""
    r = lookup("recipes", name)
    sample = dict(r.get("sample") or {})
    method = sample.pop("method", "?")
    sampler = f"{method}({', '.join(f'{k}={v}' for k, v in sample.items())})"
    if "mix" in r:
        m = mix_spec(r["mix"])
        return f"mix {r['mix']} ({m['method']} of {', '.join(m['inputs'])}) -> sampler {sampler}"
    if "score" in r:
        return f"score {r['score']} ({describe_score(r['score'])}) -> sampler {sampler}"
    return f"sampler {sampler}"


def _score_closure(scores, flyts, models):
    """Extend the sets of scores, FLYT runs and models with what they are computed from."""
    todo = list(scores)
    while todo:
        s = lookup("scores", todo.pop())
        if s.get("model"):
            models.add(s["model"])
        if s.get("flyt") and s["flyt"] not in flyts:
            flyts.add(s["flyt"])
    for f in list(flyts):
        run = flyt_run(f)
        models.update(m for m in (run.get("reference_model"), run.get("embed_model")) if m)
        for inp in run.get("inputs", []):
            if inp.split(":")[0] not in scores:
                scores.add(inp.split(":")[0])
                _score_closure({inp.split(":")[0]}, flyts, models)


def table_figures(table_name):
    """The report's figures for one table: the pool, every score, FLYT run and trained model its
    rows use, and each row's training curve and per-task evaluation (all already in its DAG)."""
    table = lookup("tables", table_name)
    recipes = [row["recipe"] for row in table["rows"]]
    scores, flyts, models = set(), set(), set()
    for name in recipes:
        r = lookup("recipes", name)
        if "score" in r:
            scores.add(r["score"])
        if "mix" in r:
            m = mix_spec(r["mix"])
            scores.update(i.split(":")[0] for i in m["inputs"])
            if m.get("flyt"):
                flyts.add(m["flyt"])
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
        "quality": [f"results/figures/quality/{table_name}.png"] if config["pool"]["source"] == "world" else [],
    }


def table_report_inputs(wildcards):
    return {**table_inputs(wildcards), **{f"fig_{k}": v for k, v in table_figures(wildcards.table).items()}}


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
