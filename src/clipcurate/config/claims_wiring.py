"""The claims target's wiring (``rules/reports.smk``; :mod:`clipcurate.report.claims_runs`): the
claims, their runs' settings, targets and directories, and the caller's config a run repeats. A
mixin of :class:`clipcurate.config.wiring.Wiring` (it reads ``self.config`` and ``self.seed``)."""

from __future__ import annotations

from pathlib import Path


class ClaimsWiring:
    # ---- the claims target (rules/reports.smk; clipcurate.report.claims_runs) ----------------

    @property
    def claims(self) -> list:
        return list((self.config.get("reports") or {}).get("claims") or [])

    @property
    def claims_runs(self) -> dict:
        """``reports.claims_runs`` with its defaults: the seeds, the claims' config files, z."""
        own = (self.config.get("reports") or {}).get("claims_runs") or {}
        return {"seeds": [self.seed], "configfiles": [], "z": 2.0, "snakemake_args": [], "cores": 2, "rows": "claimed", **own}

    def claims_rows_only(self) -> dict | None:
        """The ``rows_only`` each claims run gets: the claimed rows (``rows: claimed``) or ``None`` (all)."""
        from clipcurate.report.claims_runs import claimed_rows

        return claimed_rows(self.claims) if self.claims_runs["rows"] == "claimed" and self.claims else None

    def claims_targets(self) -> list[str]:
        from clipcurate.report.claims_runs import claim_targets

        return claim_targets(self.claims)

    def claims_run_files(self) -> list[str]:
        if self.real_scale:
            raise ValueError("results/reports/claims.csv decides claims over tiny-world seeds (reports.claims_runs); "
                             "it does not run on a real pool (pool.source: datacomp): run it without the scale file")
        if not self.claims:
            raise ValueError("results/reports/claims.csv needs claims: config reports.claims is empty")
        return [f"results/claims/seed{int(s)}/claims_run.json" for s in self.claims_runs["seeds"]]

    @staticmethod
    def caller_config(configfiles, overrides) -> tuple[list[str], dict]:
        """This run's ``--configfile`` files (relative to the working directory where they are inside
        it, so that params do not depend on where it lives) and its ``--config`` overrides: a claims
        run repeats them before its own config files."""
        import os

        cwd = Path.cwd()
        files = []
        for f in configfiles or []:
            p = Path(f)
            files.append(os.path.relpath(p, cwd) if p.is_absolute() and p.is_relative_to(cwd) else str(f))
        return files, dict(overrides or {})

    def claims_run_dirs(self) -> list[str]:
        from clipcurate.report.claims_runs import run_dir

        return [run_dir(s) for s in self.claims_runs["seeds"]]
