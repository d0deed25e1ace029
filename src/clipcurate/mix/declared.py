"""Declared mixes: mix methods whose inputs and weights come from a trained artifact (M-FLYT's mixer).

The planner (:func:`clipcurate.mix.plan.plan_mix`) and the mix rule use only :data:`DECLARED` and
:func:`resolve_declared`; the weights themselves are applied by :func:`clipcurate.mix.aggregate.mix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence
@dataclass(frozen=True)
class MixDeclaration:
    """A mix method that reads a file some rule trains (as a score method declares an Artifact).

    ``artifacts`` maps argument names to paths formatted with the mix's config entry;
    ``inputs_from`` is the config path of its input list (formatted with the entry likewise);
    ``apply(params, inputs, **artifact_paths)`` returns the ``(method, params)`` of :func:`mix` that
    computes it; ``check(entry, config, key)`` may refuse cross-references, naming ``key`` (that an
    artifact comes from an entry its trainer trains is checked by the planner, from
    :mod:`clipcurate.train.trainers`). A declared mix takes no ``params``.
    The planner (:func:`clipcurate.mix.plan.plan_mix`) and the mix rule use only this.
    """

    artifacts: Mapping[str, Any]
    inputs_from: tuple
    apply: Any
    check: Any = None
    inputs_doc: str = ""


def _mflyt_apply(params, inputs, mixer):
    from clipcurate.train.flyt.run import mixer_mix  # torch: import only when mixing

    return mixer_mix(mixer, inputs)


def _check_import(entry, config, key):
    """``mflyt_import``: the mixer file exists, is no artifact this workflow trains itself, and was
    trained on exactly the inputs of the run it stands for (``flyt.runs.<flyt>.inputs``), in order."""
    import json
    from pathlib import Path

    from clipcurate.train import trainers

    path = trainers.check_imported(entry.get("mixer"), f"{key}.mixer", "mflyt_import", "a trained M-FLYT run's mixer.json",
                                   "the mixer", "results/flyt/mflyt/mixer.json")
    try:
        inputs = json.loads(Path(path).read_text()).get("inputs")
    except (OSError, ValueError, AttributeError) as e:
        raise ValueError(f"config: {key}.mixer: {path} is not a mixer.json ({e})") from None
    run = ((config.get("flyt") or {}).get("runs") or {}).get(entry.get("flyt"))
    expected = list((run or {}).get("inputs") or [])
    if inputs != expected:
        raise ValueError(f"config: {key}.mixer: {path} mixes {inputs}, but flyt.runs.{entry.get('flyt')}.inputs "
                         f"is {expected}; the mixer scores exactly the inputs it was trained on, in that order")


def _declared() -> dict[str, MixDeclaration]:
    from clipcurate.scores.inputs import Artifact

    return {
        # M-FLYT (FLYT §4.2): the trained mixer's standardized weighted sum of its own inputs.
        "mflyt": MixDeclaration(
            artifacts={"mixer": Artifact("results/flyt/{flyt}/mixer.json")},
            inputs_from=("flyt", "runs", "{flyt}", "inputs"),
            apply=_mflyt_apply,
            inputs_doc="its inputs are those its mixer was trained on (flyt.runs.<flyt>.inputs)",
        ),
        # M-FLYT's mixer imported from another working directory, not retrained (FLYT Table 4: the
        # medium run's mixer reused on DataComp small); `mixer` is the path of its mixer.json, `flyt`
        # the run whose inputs it was trained on (scored here on this pool and standardized over it).
        "mflyt_import": MixDeclaration(
            artifacts={"mixer": Artifact("{mixer}")},
            inputs_from=("flyt", "runs", "{flyt}", "inputs"),
            apply=_mflyt_apply,
            check=_check_import,
            inputs_doc="its inputs are those its mixer was trained on (flyt.runs.<flyt>.inputs)",
        ),
    }


DECLARED: dict[str, MixDeclaration] = _declared()


def resolve_declared(method: str, params: Mapping[str, Any] | None, inputs: Sequence[str], artifacts: Mapping[str, str]) -> tuple[str, dict]:
    """The ``(method, params)`` of :func:`mix` for a mix entry: declared methods apply their artifacts."""
    decl = DECLARED.get(method)
    if decl is None:
        return method, dict(params or {})
    return decl.apply(dict(params or {}), list(inputs), **{k: str(artifacts[k]) for k in decl.artifacts})
