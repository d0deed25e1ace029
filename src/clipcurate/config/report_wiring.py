"""The reports' wiring (``rules/reports.smk``): the filter-quality report's scores and recipes
(narrowed by config ``rows_only``, :mod:`clipcurate.config.rows_only`) and the DFN data-quality
figure's inputs. A mixin of :class:`clipcurate.config.wiring.Wiring` (it reads ``self.config`` and
``self.dfn_quality_points``)."""

from __future__ import annotations


class ReportWiring:
    def quality_scores(self) -> list[str]:
        """The scores of the filter-quality report: every configured one but those it excludes, or
        those ``rows_only`` names (:func:`clipcurate.config.rows_only.quality_entries`)."""
        from clipcurate.config.rows_only import quality_entries

        exclude = set((self.config.get("reports") or {}).get("score_quality", {}).get("exclude") or [])
        only = quality_entries(self.config)
        return [s for s in self.config["scores"] if s not in exclude and (only is None or s in only[0])]

    def quality_recipes(self) -> list[str]:
        from clipcurate.config.rows_only import quality_entries

        scores = set(self.quality_scores())
        only = quality_entries(self.config)
        return [r for r, rec in self.config["recipes"].items()
                if rec.get("score") in scores and (only is None or r in only[1])]

    def score_quality_inputs(self, wildcards) -> dict:
        """Every configured score (but those the report excludes), the recipes sampling from them, and
        the world's ground truth: the report exists only on the tiny world."""
        from clipcurate.config.wiring import POOL_INDEX, WORLD_DIR

        if self.config["pool"]["source"] != "world":
            raise ValueError("results/reports/score_quality.csv needs the tiny world's ground truth (pool.source: world)")
        return {
            "world": WORLD_DIR,
            "index": POOL_INDEX,
            "scores": [f"results/scores/{s}.parquet" for s in self.quality_scores()],
            "subsets": [f"results/subsets/{r}.parquet" for r in self.quality_recipes()],
        }

    def dfn_quality_inputs(self, wildcards) -> dict:
        if not self.dfn_quality_points:
            raise ValueError("results/figures/dfn_data_quality.png needs a `dfn_quality` config block")
        return {
            "dfn_evals": [f"results/eval/models/{p['model']}.jsonl" for p in self.dfn_quality_points],
            "subset_evals": [f"results/eval/{p['recipe']}.jsonl" for p in self.dfn_quality_points],
        }
