"""Mix planning (``mixes:``) and the whole-config check of scores and mixes.

Apart from :mod:`clipcurate.scores.plan` so that score jobs, whose runner imports that module, do
not count the mixing code (:mod:`clipcurate.mix.aggregate`) in their code version: editing a mix method
reruns the mixes, not every score. A mix entry names its method, inputs and parameters; a declared
method (:data:`clipcurate.mix.declared.DECLARED`, M-FLYT's trained mixer) gets its artifacts and inputs
from the config entry its artifact names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from clipcurate.scores.plan import (
    POOL_INDEX,
    PlanError,
    _lookup,
    format_artifact,
    parse_score_ref,
    plan_score,
    score_specs,
)


@dataclass
class MixPlan:
    name: str
    method: str
    inputs: list  # score references, ``name`` or ``name:column``
    params: dict
    artifacts: dict = field(default_factory=dict)  # argument name -> path
    recipes: list = field(default_factory=list)  # recipes whose ImageNet accuracy the params use

    @property
    def specs(self) -> list[tuple[str, str, str]]:
        return score_specs(self.inputs)

    def to_dict(self) -> dict:
        return {**asdict(self), "specs": [list(s) for s in self.specs]}


def mix_recipe_refs(entry: Mapping) -> list[str]:
    """Recipes whose ImageNet accuracy a mix uses (in_weighted's ``in_accuracy: recipe:<name>``)."""
    acc = (entry.get("params") or {}).get("in_accuracy") or {}
    if not isinstance(acc, Mapping):
        return []
    return sorted({v.partition(":")[2] for v in acc.values() if isinstance(v, str) and v.startswith("recipe:")})


def plan_mix(config: Mapping, name: str) -> MixPlan:
    """Resolve ``mixes.<name>``: its inputs (declared methods take them from config, e.g. the
    M-FLYT run's), artifacts and recipe references; raise PlanError naming the key."""
    from clipcurate.mix import aggregate as mixing
    from clipcurate.mix.declared import DECLARED

    mixes = config.get("mixes") or {}
    if name not in mixes:
        raise PlanError(f"config: unknown mix {name!r}; known mixes: {sorted(mixes)}")
    key = f"mixes.{name}"
    entry = mixes[name]
    method = entry.get("method")
    decl = DECLARED.get(method)
    artifacts: dict[str, str] = {}
    if decl is not None:
        if "inputs" in entry:
            raise PlanError(f"config: {key}.inputs: not allowed for method {method!r}: {decl.inputs_doc}")
        for arg, art in decl.artifacts.items():
            artifacts[arg] = format_artifact(art, entry, config, key, method, arg)
        if entry.get("params"):
            where = ".".join(p.format(**entry) for p in decl.inputs_from[:-1])
            raise PlanError(f"config: {key}.params: method {method!r} takes its weights from its trained artifact ({where}); remove params")
        if decl.check is not None:
            try:
                decl.check(entry, config, key)
            except (ValueError, KeyError) as e:
                raise PlanError(str(e)) from None
        parts = [p.format(**entry) for p in decl.inputs_from]
        where = ".".join(parts)
        inputs = _lookup(config, parts)
        if not inputs:
            raise PlanError(f"config: {key}: method {method!r} takes its inputs from {where}, which is empty or missing")
    else:
        if method not in mixing.METHODS:
            raise PlanError(f"config: {key}.method: unknown mixing method {method!r}; known: {sorted([*mixing.METHODS, *DECLARED])}")
        inputs = entry.get("inputs")
        if not inputs:
            raise PlanError(f"config: {key}.inputs: required (a list of score names, `name` or `name:column`)")
    scores = config.get("scores") or {}
    for inp in inputs:
        if parse_score_ref(inp)[0] not in scores:
            raise PlanError(f"config: {key}.inputs: unknown score {inp!r}; known: {sorted(scores)}")
    recipes = mix_recipe_refs(entry)
    for r in recipes:
        if r not in (config.get("recipes") or {}):
            raise PlanError(f"config: {key}.params.in_accuracy: unknown recipe {r!r}; known: {sorted(config.get('recipes') or {})}")
    return MixPlan(name, method, list(inputs), dict(entry.get("params") or {}), artifacts, recipes)


def mix_files(plan: MixPlan) -> dict[str, Any]:
    files: dict[str, Any] = {"index": POOL_INDEX, "scores": sorted({p for _, p, _ in plan.specs})}
    files.update(plan.artifacts)
    if plan.recipes:
        files["evals"] = [f"results/eval/{r}.jsonl" for r in plan.recipes]
    return files


# --------------------------------------------------------------------------------------------


def _check_cycles(config: Mapping) -> None:
    deps = {}
    for name in config.get("scores") or {}:
        plan = plan_score(config, name, real_pool_check=False)
        deps[name] = {parse_score_ref(r[0])[0] for s in plan.inputs.values() if s["kind"] == "scores" for r in s["refs"]}
    state: dict[str, int] = {}

    def visit(n, path):
        if state.get(n) == 1:
            raise PlanError(f"config: scores.{n}: scores read each other in a cycle: {' -> '.join([*path, n])}")
        if state.get(n) == 2:
            return
        state[n] = 1
        for d in sorted(deps.get(n, ())):
            visit(d, [*path, n])
        state[n] = 2

    for n in deps:
        visit(n, [])


def check_scores(config: Mapping) -> None:
    """Every check of ``scores:`` and ``mixes:`` (called once when the workflow starts).

    Oracles are not refused here (a real-scale config may keep the default's entry unused); they
    are refused when a job asks for them.
    """
    from clipcurate.embed import variants

    try:
        variants.check_config(config)
    except variants.VariantConfigError as e:
        raise PlanError(str(e)) from None
    for name in config.get("scores") or {}:
        plan_score(config, name, real_pool_check=False)
    _check_cycles(config)
    for name in config.get("mixes") or {}:
        plan_mix(config, name)
