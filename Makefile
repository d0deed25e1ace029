# The two commands of the README: `make table1` (main job on the tiny world) and `make test`.
CORES ?= 2

.PHONY: setup table1 test lint

setup:
	bash scripts/setup.sh

table1: setup
	.venv/bin/snakemake results/tables/table1.csv --cores $(CORES)

test: setup
	.venv/bin/pytest -q -rs

lint: setup
	.venv/bin/snakemake --lint
