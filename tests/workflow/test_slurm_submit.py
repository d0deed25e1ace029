"""The sbatch command lines profiles/slurm would submit at medium scale, built by the executor
plugin's own code (snakemake-executor-plugin-slurm) from the jobs of a planned table1 DAG.

No cluster is needed: the workflow is planned from config (a listing of 12,800 shard names), and
the plugin's submit-string functions turn each job into its sbatch call; only the plugin's account
check (which asks sacctmgr) is skipped.
"""

import shlex
from types import SimpleNamespace

import pytest
import yaml

import snakemake_executor_plugin_slurm as slurm_plugin
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from .plan import plan
from .test_slurm import REPO

pytestmark = pytest.mark.slow

SITE = {"gpu": {"partition": "gpu-a100", "account": "vision"}, "cpu": {"partition": "cpu-long", "account": "vision-cpu"}}


@pytest.fixture(scope="module")
def medium_jobs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("medium")
    (tmp / "shards.txt").write_text("".join(f"{i:08d}.tar\n" for i in range(12800)))
    (tmp / "metadata").mkdir()
    (tmp / "eval").mkdir()
    site = tmp / "site.yaml"
    site.write_text(yaml.safe_dump({
        "pool": {"source": "datacomp", "metadata_dir": str(tmp / "metadata"), "shard_list": str(tmp / "shards.txt")},
        "evaluation": {"data_root": str(tmp / "eval")},
        "slurm": SITE,
    }))
    jobs = plan(REPO / "Snakefile", tmp / "work", [REPO / "config/scales/medium.yaml", site], ["results/tables/table1.csv"])
    return {job.rule.name: job for job in jobs}


def profile_settings():
    """The plugin's executor settings as the profile sets them (``slurm-<name>`` keys)."""
    profile = yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())
    return SimpleNamespace(requeue=bool(profile.get("slurm-requeue")), qos=None, reservation=None)


def sbatch_args(job, monkeypatch) -> dict:
    """The plugin's sbatch call for ``job``, split into {flag: value} (flags without a value map to True)."""
    monkeypatch.setattr(slurm_plugin, "test_account", lambda account, logger: None)
    executor = SimpleNamespace(_partitions=None, _fallback_partition=None, _fallback_account_arg=None, logger=None)
    params = {
        "run_uuid": "uuid", "slurm_logfile": "log", "comment_str": f"rule_{job.rule.name}", "workdir": None,
        "account": next(slurm_plugin.Executor.get_account_arg(executor, job)),
        "partition": slurm_plugin.Executor.get_partition_arg(executor, job),
    }
    call = get_submit_command(job, params, settings=profile_settings()) + set_gres_string(job)
    words = shlex.split(call)
    assert words[0] == "sbatch"
    args, i = {}, 1
    while i < len(words):
        word = words[i]
        if "=" in word and word.startswith("--"):
            key, value = word.split("=", 1)
            args[key] = value
        elif i + 1 < len(words) and not words[i + 1].startswith("-"):
            args[word] = words[i + 1]
            i += 1
        else:
            args[word] = True
        i += 1
    return args


def test_training_asks_for_its_gpus_with_cpus_per_gpu_and_one_task(medium_jobs, monkeypatch):
    scale = yaml.safe_load((REPO / "config/scales/medium.yaml").read_text())["scale"]
    args = sbatch_args(medium_jobs["train"], monkeypatch)
    assert args["--gpus"] == str(scale["gpus"]) == "8"
    assert args["--cpus-per-gpu"] == str(scale["job_threads"])
    # one task: torchrun starts the per-GPU processes; no per-task CPUs multiplying the request
    assert "--ntasks-per-gpu" not in args and "--cpus-per-task" not in args and "--ntasks" not in args
    assert int(args["--gpus"]) * int(args["--cpus-per-gpu"]) == 64
    assert (args["-p"], args["-A"]) == ("gpu-a100", "vision")
    assert args["--requeue"] is True
    assert args["--mem"] == "64000"


def test_single_gpu_step_asks_for_one_gpu(medium_jobs, monkeypatch):
    args = sbatch_args(medium_jobs["evaluate"], monkeypatch)
    assert (args["--gpus"], args["--cpus-per-gpu"]) == ("1", "8")
    assert (args["-p"], args["-A"]) == ("gpu-a100", "vision")


def test_embedding_from_datacomp_npz_is_a_cpu_job(medium_jobs, monkeypatch):
    """At medium the OpenAI B/32 embeddings come from DataComp's npz files (precomputed: b32):
    the embed job runs no model, so it asks for no GPU and goes to the CPU partition."""
    embed = medium_jobs["embed"]
    assert embed.wildcards_dict["model"] == "openai"
    args = sbatch_args(embed, monkeypatch)
    assert "--gpus" not in args and "--cpus-per-gpu" not in args
    assert (args["-p"], args["-A"]) == ("cpu-long", "vision-cpu")


def test_cpu_step_asks_for_its_threads_on_the_cpu_partition(medium_jobs, monkeypatch):
    download = medium_jobs["download"]
    args = sbatch_args(download, monkeypatch)
    assert "--gpus" not in args and "--cpus-per-gpu" not in args
    assert args["--cpus-per-task"] == "16" == str(download.threads)  # download.processes
    assert args["--ntasks"] == "1"
    assert (args["-p"], args["-A"]) == ("cpu-long", "vision-cpu")
    assert args["--requeue"] is True
    reshard = sbatch_args(medium_jobs["reshard"], monkeypatch)
    assert (reshard["--cpus-per-task"], reshard["-p"], reshard["-t"]) == ("1", "cpu-long", "720")


def test_profile_retries_failed_jobs():
    profile = yaml.safe_load((REPO / "profiles/slurm/profile.yaml").read_text())
    assert profile["retries"] >= 1 and profile["slurm-requeue"] is True
    # GPU/CPU requests come from the rules; profile-wide values would override them
    for key in ("cpus_per_task", "gres", "tasks", "slurm_partition", "slurm_account"):
        assert key not in (profile.get("default-resources") or {})
