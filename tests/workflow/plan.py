"""Plan a workflow (no job runs) through Snakemake's API and return its jobs, for tests that check
what a job would ask of a cluster (resources, threads) or carry as params."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    Quietness,
    ResourceSettings,
    StorageSettings,
)


def plan(snakefile: Path, workdir: Path, configfiles: list[Path], targets: list[str]) -> list:
    """The jobs Snakemake would run for ``targets`` (a dry run's DAG), as Snakemake Job objects."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()), SnakemakeApi(
        OutputSettings(quiet={Quietness.ALL})
    ) as api:
        wf_api = api.workflow(
            resource_settings=ResourceSettings(cores=1024),  # as on a cluster: no thread is capped
            config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
            storage_settings=StorageSettings(),
            snakefile=Path(snakefile),
            workdir=Path(workdir),
        )
        dag_api = wf_api.dag(dag_settings=DAGSettings(targets=set(targets)))
        workflow = dag_api.workflow_api._workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        return list(workflow.dag.jobs)


def parse_error(snakefile: Path, workdir: Path, configfiles: list[Path]) -> str | None:
    """Parse the workflow (what `snakemake --list-rules` does: the Snakefile and every rules file,
    no DAG) with ``configfiles``; the error it stops with, as ``"<type>: <message>"``, or None."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), SnakemakeApi(
            OutputSettings(quiet={Quietness.ALL})
        ) as api:
            wf_api = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(configfiles=[Path(c) for c in configfiles]),
                storage_settings=StorageSettings(),
                snakefile=Path(snakefile),
                workdir=Path(workdir),
            )
            wf_api._workflow  # includes the Snakefile and checks the workflow
    except Exception as e:  # noqa: BLE001 - any error stops the workflow
        return f"{type(e).__name__}: {e}"
    return None
