# The embedded tiny world: pool metadata + images served over HTTP, reference sets, eval tasks,
# and truth.parquet. Deterministic from world.seed. Never defined at real scale
# (pool.source: datacomp), so no job there can depend on it.


if not REAL_SCALE:

    rule world:
        output:
            directory(WORLD_DIR),
        params:
            cfg={k: v for k, v in config["world"].items() if k not in ("seed", "serve_port")},
            seed=config["world"]["seed"],
            base_url=f"http://127.0.0.1:{config['world']['serve_port']}",
            code=code_version("world"),
        log:
            "logs/world/world.log",
        benchmark:
            "results/benchmarks/world/world.tsv"
        threads: 2
        resources:
            **cpu_resources(mem_mb=4000, runtime=10),
        conda:
            "../envs/data.yaml"
        script:
            "../workflow/scripts/world.py"
