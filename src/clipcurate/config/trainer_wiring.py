"""The trainer rules' wiring: one rule per trainer plug-in (:mod:`clipcurate.train.trainers`),
defined in a loop in ``rules/models.smk``, each asking these methods for its wildcard constraint,
inputs, outputs, params, script and resources. A mixin of :class:`clipcurate.config.wiring.Wiring`
(it reads ``self.config``, ``self.scale``, ``self.code_version`` and the resource helpers)."""

from __future__ import annotations

import re
from typing import Mapping


def _regex(names) -> str:
    """A wildcard regex matching exactly ``names`` (never matches if there are none)."""
    names = sorted(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


class TrainerWiring:
    # ---- trainers (clipcurate.train.trainers): one rule each, defined in a loop in rules/models.smk ----

    def trainers(self) -> list:
        """Every registered trainer (:class:`clipcurate.train.trainers.Trainer`)."""
        from clipcurate.train import trainers

        return trainers.trainers()

    def trainer(self, name: str):
        from clipcurate.train import trainers

        return trainers.get(name)

    def trainer_constraints(self, t) -> dict:
        """The rule's wildcard constraint: exactly the entries this trainer trains."""
        return {t.wildcard: _regex(t.entries(self.config))}

    def _trainer_entry(self, t, wildcards) -> tuple[str, Mapping]:
        name = getattr(wildcards, t.wildcard)
        return name, t.entry(self.config, name)

    def trainer_inputs(self, t):
        """The rule's input function: the files of each declared input the entry wants."""

        def inputs(wildcards) -> dict:
            name, entry = self._trainer_entry(t, wildcards)
            files: dict = {}
            for arg, kind in t.inputs.items():
                if kind.wanted(entry):
                    files.update(kind.files(arg, entry, self))
            return files

        return inputs

    def trainer_outputs(self, t, report=None, category: str = "") -> dict:
        """The rule's outputs; those the trainer flags for the report wrapped in ``report(...)``
        (Snakemake's, passed in), their captions under report/."""
        out = {}
        for key, path in t.outputs.items():
            flags = t.reports.get(key)
            if flags and report is not None:
                out[key] = report(path, caption=f"../report/{flags['caption']}", category=category,
                                  subcategory=flags.get("subcategory", t.label), labels=dict(flags.get("labels") or {}))
            else:
                out[key] = path
        return out

    def trainer_params(self, t) -> dict:
        """The rule's params: each declared param as a function of the wildcards, and the code version."""

        def param(f):
            return lambda wildcards: f(self._trainer_entry(t, wildcards)[1], getattr(wildcards, t.wildcard), self)

        return {**{k: param(f) for k, f in t.params.items()}, "code": self.code_version(t.script)}

    def trainer_script(self, rule) -> str:
        """The script of the trainer whose rule is ``rule`` (its name, or Snakemake's rule object),
        relative to rules/. Snakemake evaluates a rule's ``script:`` when the rule is defined and
        again when the job runs, in the Snakefile's namespace, where the loop variable of
        rules/models.smk then holds the last trainer: the rule's own name identifies it."""
        return f"../workflow/scripts/{self.trainer(getattr(rule, 'name', rule)).script}.py"

    def trainer_resources(self, t) -> dict:
        r = t.resources
        gpus = self.scale.get("gpus", 1) if r.get("gpus") == "scale" else int(r.get("gpus", 1))
        if not t.gpu:
            return self.cpu_resources(r["mem_mb"], r["runtime"])
        return self.gpu_resources(r["mem_mb"], r["runtime"], gpus=gpus)

    def flyt_run(self, name: str) -> dict:
        """config.flyt.runs[name] (the FLYT figure's param)."""
        runs = self.config["flyt"]["runs"]
        if name not in runs:
            raise ValueError(f"config: flyt.runs: unknown flyt run {name!r}; known flyt.runs: {', '.join(sorted(runs)) or '(none)'}")
        return runs[name]

    def flyt_train(self, name: str) -> dict:
        """A FLYT run's training hyperparameters (:func:`clipcurate.train.trainers.flyt.run_train`)."""
        from clipcurate.train.trainers.flyt import run_train

        return run_train(self.config, self.flyt_run(name))

    def trained_label(self, path_template: str, name: str) -> str:
        """What the entry ``name`` whose artifact is ``path_template`` is (``M-FLYT run``), for captions."""
        from clipcurate.train import trainers

        for t in trainers.trainers():
            if path_template in t.outputs.values() and name in t.entries(self.config):
                return t.label
        raise ValueError(f"no trainer writes {path_template} for {name!r}")
