"""Staged score methods: the pattern that lets a pool-level method run at 128M rows.

A method that needs the whole pool (k-means centroids, a threshold over all scores, the members of
a cluster together) cannot hold the pool: 128M image embeddings of dimension 768 are 393 GB of
float32. A *staged* method splits its work into jobs whose inputs are bounded by design:

``prepare`` (optional, one job per chunk)
    ``prepare(params, ctx, **inputs) -> {name: array}``: what the chunk contributes to the fit (a
    sample of its rows, a histogram) and what its own apply job will reuse (a pre-filter mask).
    Written to ``results/scores/<score>/prepare/<chunk>.npz``.
``fit`` (optional, one job)
    ``fit(params, ctx, prepared, **inputs) -> {name: array}``: the method's artifact (centroids,
    thresholds, a model), from the stream of every chunk's prepared arrays (:class:`Prepared`, read
    one chunk at a time) and its own inputs (e.g. a reference set). Written to
    ``results/scores/<score>/fit.npz``, an artifact other rules may read.
``apply`` (one job per chunk; the registered function)
    ``apply(params, ctx, [fitted], [prepared], **inputs) -> {column: array}``: the method's declared
    outputs for the chunk's rows; with a ``group`` stage also ``"group"`` (int64 cluster id per row,
    -1 for a row in no cluster) and ``"members"`` (``{name: array[n, ...]}``, what the group stage
    needs of each member row, e.g. its embedding).
``group`` (optional, ``params["group_shards"]`` jobs)
    ``group(params, ctx, fitted, members) -> {column: array}``: called once per cluster with all of
    its members (``members["row"]``, ``["uid"]``, ``["group"]`` and the apply's member arrays, in
    pool order); its columns replace the apply's values for those rows. The regrouping and the
    scatter back to pool order are :mod:`clipcurate.scores.groups`.

Each stage reads only the declared inputs it names (``Stages.prepare_inputs`` etc.; embeddings only
in the modalities the input declares), so no job concatenates the pool. In the per-chunk stages a
chunk's embeddings are :class:`~clipcurate.scores.runner.ChunkEmbeddings`, read lazily:
:func:`emb_batches` and :func:`emb_take` hold one parquet row group (2^20 rows) at a time, so a job's
memory does not grow with the chunk (25M rows at xlarge). Each stage declares its
:class:`Resources` (memory, runtime, threads, GPUs); a score's config entry overrides them per
stage (``scores.<name>.resources.<stage>``, e.g. in a scale file), and the rules' ``threads`` and
``resources`` come from them (:func:`stage_resources`).
"""

from __future__ import annotations

import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from clipcurate.core import fileio, scorefiles

#: The stages in the order they run; ``gather`` writes the pool-wide score file.
STAGES = ("prepare", "fit", "apply", "group", "gather")
#: Parameter naming the number of group jobs (clusters are spread over them by id modulo the count).
GROUP_SHARDS = "group_shards"


@dataclass(frozen=True)
class Resources:
    """What one job of a stage asks of a cluster: memory (MB), wall time (minutes), CPU threads, GPUs."""

    mem_mb: int = 8000
    runtime: int = 60
    threads: int = 1
    gpu: int = 0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if f.name == "gpu" else 1):
                raise ValueError(f"Resources.{f.name}: expected an integer >= {0 if f.name == 'gpu' else 1}, got {v!r}")


#: A stage's resources when its method declares none (the score rules' former fixed values).
DEFAULT_RESOURCES = {"prepare": Resources(8000, 60), "fit": Resources(16000, 60), "apply": Resources(8000, 60),
                     "group": Resources(16000, 60), "gather": Resources(16000, 60)}


@dataclass(frozen=True)
class Stages:
    """The stages of a staged method besides its apply function (the registered one)."""

    prepare: Callable | None = None
    prepare_inputs: tuple = ()
    fit: Callable | None = None
    fit_inputs: tuple = ()
    apply_inputs: tuple | None = None  # None: every declared input no other stage names
    group: Callable | None = None
    #: stage -> parameters that name a file the stage reads (e.g. released centroids): when set, the
    #: file is an input of the stage's jobs, so a missing one stops the plan, not a job
    param_files: Mapping = field(default_factory=dict)

    def inputs_of(self, stage: str, declared: Sequence[str]) -> tuple:
        """Names of the declared inputs a stage reads."""
        if stage == "prepare":
            return tuple(self.prepare_inputs)
        if stage == "fit":
            return tuple(self.fit_inputs)
        if stage == "apply":
            if self.apply_inputs is not None:
                return tuple(self.apply_inputs)
            others = set(self.prepare_inputs) | set(self.fit_inputs)
            return tuple(a for a in declared if a not in others)
        return ()

    def names(self) -> tuple:
        """The stages this method runs, in order."""
        return tuple(s for s, on in (("prepare", self.prepare), ("fit", self.fit), ("apply", True),
                                     ("group", self.group), ("gather", True)) if on)


def check_declaration(name: str, level: str, inputs: Mapping, stages: Stages | None, resources: Mapping | None,
                      defaults: Mapping) -> None:
    """Checks of a staged declaration made by :func:`clipcurate.scores.register`."""
    if stages is None:
        if resources:
            bad = [s for s in resources if s not in ("apply", "gather")]
            if bad:
                raise ValueError(f"method {name}: resources for stage {bad[0]!r}, but the method declares no such stage "
                                 "(a plain method has 'apply' and, at chunk level, 'gather')")
    else:
        if not isinstance(stages, Stages):
            raise ValueError(f"method {name}: stages must be a clipcurate.scores.stages.Stages, got {stages!r}")
        if level != "chunk":
            raise ValueError(f"method {name}: a staged method applies per chunk: declare level='chunk'")
        for stage in ("prepare", "fit", "apply"):
            for arg in stages.inputs_of(stage, list(inputs)):
                if arg not in inputs:
                    raise ValueError(f"method {name}: stage {stage} reads {arg!r}, which is not a declared input")
        used = {a for s in ("prepare", "fit", "apply") for a in stages.inputs_of(s, list(inputs))}
        unused = [a for a in inputs if a not in used]
        if unused:
            raise ValueError(f"method {name}: input {unused[0]!r} is read by no stage")
        if (stages.prepare_inputs and stages.prepare is None) or (stages.fit_inputs and stages.fit is None):
            raise ValueError(f"method {name}: inputs are given for a stage without a function")
        for stage, names in stages.param_files.items():
            if stage not in stages.names() or any(n not in defaults for n in names):
                raise ValueError(f"method {name}: param_files[{stage!r}] = {names!r} names a stage it lacks or a "
                                 "parameter not in its defaults")
        if stages.group is not None and GROUP_SHARDS not in defaults:
            raise ValueError(f"method {name}: a group stage needs the parameter {GROUP_SHARDS!r} in its defaults")
        for s, r in (resources or {}).items():
            if s not in stages.names():
                raise ValueError(f"method {name}: resources for stage {s!r}; its stages are {list(stages.names())}")
    for s, r in (resources or {}).items():
        if not isinstance(r, Resources):
            raise ValueError(f"method {name}: resources[{s!r}] must be a Resources, got {r!r}")


def stage_resources(method, entry: Mapping, key: str, stage: str) -> Resources:
    """A stage's resources: the method's declaration, overridden by ``<key>.resources.<stage>``.

    ``entry`` is the score's config entry and ``key`` its config path (``scores.<name>``); an
    override may set any of ``mem_mb``, ``runtime``, ``threads`` and ``gpu``. Errors name the key.
    """
    base = (method.resources or {}).get(stage) or DEFAULT_RESOURCES[stage]
    over = (entry.get("resources") or {})
    if not isinstance(over, Mapping):
        raise ValueError(f"config: {key}.resources: expected a mapping of stage -> resources, got {over!r}")
    known = method_stages(method)
    for s in over:
        if s not in known:
            raise ValueError(f"config: {key}.resources.{s}: method {method.name!r} has no stage {s!r}; its stages: {list(known)}")
    mine = over.get(stage) or {}
    if not isinstance(mine, Mapping):
        raise ValueError(f"config: {key}.resources.{stage}: expected a mapping (mem_mb, runtime, threads, gpu), got {mine!r}")
    bad = [k for k in mine if k not in asdict(base)]
    if bad:
        raise ValueError(f"config: {key}.resources.{stage}.{bad[0]}: unknown; expected any of {list(asdict(base))}")
    try:
        return Resources(**{**asdict(base), **dict(mine)})
    except ValueError as e:
        raise ValueError(f"config: {key}.resources.{stage}: {e}") from None


def check_resources(method, entry: Mapping, key: str) -> None:
    """Every stage's resources of a score entry resolve (called when the score is planned)."""
    for s in method_stages(method):
        stage_resources(method, entry, key, s)


# --------------------------------------------------------------------------------------------
# running stages


@dataclass(frozen=True)
class StageContext:
    """What a stage function knows of its job: the stage, the chunk (per-chunk stages) or group
    shard, the threads it may use, and whether a GPU is there (``gpus``: faiss's count)."""

    stage: str
    chunk: int | None = None
    shard: int | None = None
    threads: int = 1
    gpus: int = 0
    extra: Mapping = field(default_factory=dict)


def faiss_gpus() -> int:
    """GPUs faiss can use here (0 with faiss-cpu or without a GPU)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        return 0
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get is not None else 0


def write_arrays(path, arrays: Mapping[str, Any]) -> None:
    """Write a stage's arrays as an uncompressed ``.npz`` (atomically)."""
    if not isinstance(arrays, Mapping):
        raise ValueError(f"{path}: a stage must return a dict of arrays, got {type(arrays).__name__}")
    out = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise ValueError(f"{path}: array {k!r} has dtype object; a stage returns numeric or boolean arrays")
        out[k] = a
    with fileio.atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **out)


def read_arrays(path) -> dict[str, np.ndarray]:
    """Every array of a stage's ``.npz``; a missing or unreadable file names itself."""
    path = Path(path)
    if not path.exists():
        raise fileio.ContractError(f"{path}: stage output not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise fileio.ContractError(f"{path}: not a readable .npz stage output ({e}); delete it and rerun its job") from e


class Prepared:
    """Every chunk's prepared arrays, read one chunk at a time (the fit's stream).

    ``items`` are the chunks' ``.npz`` paths (or, in tests and in-memory runs, their dicts).
    ``len()`` is the number of chunks; iterating yields each chunk's dict in chunk order;
    :meth:`shape` reads an array's shape from its ``.npy`` header without loading it, so a fit can
    size a sample before reading any data.
    """

    def __init__(self, items: Sequence):
        self.items = [it if isinstance(it, Mapping) else Path(it) for it in items]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i in range(len(self.items)):
            yield self[i]

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        it = self.items[i]
        return dict(it) if isinstance(it, Mapping) else read_arrays(it)

    def shape(self, i: int, name: str) -> tuple:
        it = self.items[i]
        if isinstance(it, Mapping):
            if name not in it:
                raise fileio.ContractError(f"prepared chunk {i}: no array {name!r}")
            return tuple(np.shape(it[name]))
        try:
            with zipfile.ZipFile(it) as z, z.open(f"{name}.npy") as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, _ = read(f)
        except KeyError:
            raise fileio.ContractError(f"{it}: no array {name!r} in the prepared stage output") from None
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise fileio.ContractError(f"{it}: not a readable .npz stage output ({e})") from e
        return tuple(shape)


def _method_and_plan(plan):
    from clipcurate.scores import get
    from clipcurate.scores.plan import _as_plan

    plan = _as_plan(plan)
    return plan, get(plan.method)


def _ctx(stage, threads, chunk=None, shard=None) -> StageContext:
    return StageContext(stage, chunk=chunk, shard=shard, threads=int(threads or 1), gpus=faiss_gpus())


def run_prepare(plan, files: Mapping[str, Any], out_path, chunk: int, threads: int = 1) -> int:
    """The prepare stage of one chunk: load its declared inputs, call ``prepare``, write the .npz."""
    from clipcurate.scores.runner import Rows, load_inputs

    plan, m = _method_and_plan(plan)
    rows = Rows(files["index"], chunk)
    loaded = load_inputs(plan, files, rows, only=m.stages.prepare_inputs, lazy=True)
    arrays = m.stages.prepare(dict(plan.params), _ctx("prepare", threads, chunk=chunk), **loaded)
    write_arrays(out_path, arrays)
    return len(rows)


def run_fit(plan, files: Mapping[str, Any], out_path, threads: int = 1) -> dict[str, tuple]:
    """The fit stage: the prepared stream and the fit's own inputs in, the artifact (.npz) out."""
    from clipcurate.scores.runner import Rows, load_inputs

    plan, m = _method_and_plan(plan)
    extra = {}
    if m.stages.prepare is not None:
        prepared = files["prepared"]
        extra["prepared"] = Prepared([prepared] if isinstance(prepared, (str, Path)) else list(prepared))
    loaded = load_inputs(plan, files, Rows(files["index"], chunk=None, lazy=True), only=m.stages.fit_inputs)
    arrays = m.stages.fit(dict(plan.params), _ctx("fit", threads), **extra, **loaded)
    write_arrays(out_path, arrays)
    return {k: np.shape(v) for k, v in arrays.items()}


def run_apply(plan, files: Mapping[str, Any], out_path, chunk: int, threads: int = 1) -> int:
    """The apply stage of one chunk: its inputs, the fit's artifact and the chunk's prepared arrays
    in; the chunk's score file out (sorted by group shard, :mod:`clipcurate.scores.groups`, when the
    method has a group stage)."""
    from clipcurate.scores import groups
    from clipcurate.scores.runner import Rows, check_outputs, load_inputs

    plan, m = _method_and_plan(plan)
    st = m.stages
    rows = Rows(files["index"], chunk)
    loaded = load_inputs(plan, files, rows, only=st.inputs_of("apply", list(m.inputs)), lazy=True)
    extra = {}
    if st.fit is not None:
        extra["fitted"] = read_arrays(files["fitted"])
    if st.prepare is not None:
        extra["prepared"] = read_arrays(files["prepared"])
    cols = m.func(dict(plan.params), _ctx("apply", threads, chunk=chunk), **extra, **loaded)
    if not isinstance(cols, Mapping):
        raise ValueError(f"score {plan.name} (method {plan.method}): apply must return a dict, got {type(cols).__name__}")
    cols = dict(cols)
    if st.group is None:
        scorefiles.write_scores(out_path, rows.uids, check_outputs(plan, cols, len(rows)), fingerprint=None)
        return len(rows)
    group, members = cols.pop("group", None), cols.pop("members", {})
    if group is None:
        raise ValueError(f"score {plan.name} (method {plan.method}): a grouped method's apply returns 'group' (cluster per row)")
    cols = check_outputs(plan, cols, len(rows))
    missing = [o for o in plan.outputs if o not in cols]
    if missing:
        raise ValueError(f"score {plan.name} (method {plan.method}): a grouped method's apply returns every output "
                         f"(rows in no cluster keep it); missing {missing}")
    groups.write_grouped_chunk(out_path, rows.uids, rows.offset, cols, group, members, int(plan.params[GROUP_SHARDS]))
    return len(rows)


def run_group(plan, files: Mapping[str, Any], out_path, shard: int, threads: int = 1) -> int:
    """One group shard: its members from every chunk, the group function per cluster, the result out."""
    from clipcurate.scores import groups

    plan, m = _method_and_plan(plan)
    members = groups.read_members(files["chunks"], int(shard))
    fitted = read_arrays(files["fitted"]) if m.stages.fit is not None else None
    ctx = _ctx("group", threads, shard=int(shard))
    params = dict(plan.params)
    result = groups.run_clusters(members, lambda sub: m.stages.group(params, ctx, fitted, sub), plan.outputs,
                                 where=f"score {plan.name} (method {plan.method}), group shard {shard}")
    groups.write_group_result(out_path, result)
    return len(result["row"])


# --------------------------------------------------------------------------------------------
# planning: each stage's files (the rules' inputs)


def stage_path(name: str, stage: str, part: str | int | None = None) -> str:
    """Where a stage's job writes: per chunk (``prepare``, ``apply``), per group shard, or once."""
    if stage == "prepare":
        return f"results/scores/{name}/prepare/{part}.npz"
    if stage == "fit":
        return f"results/scores/{name}/fit.npz"
    if stage == "apply":
        return f"results/scores/{name}/chunks/{part}.parquet"
    if stage == "group":
        return f"results/scores/{name}/groups/{int(part):05d}.parquet"
    if stage == "gather":
        return f"results/scores/{name}.parquet"
    raise ValueError(f"unknown stage {stage!r}; stages: {list(STAGES)}")


def method_stages(method) -> tuple:
    """The stages a method's score runs: a staged method's, ``apply`` + ``gather`` for a plain
    chunk-level method, ``gather`` (one job over the pool) for a pool-level one."""
    if method.stages is not None:
        return method.stages.names()
    return ("apply", "gather") if method.level == "chunk" else ("gather",)


def group_shards(plan) -> list[str]:
    """The group shards of a grouped method (``params.group_shards`` of them), as wildcard values."""
    from clipcurate.scores.plan import _as_plan

    plan = _as_plan(plan)
    return [f"{s:05d}" for s in range(int(plan.params[GROUP_SHARDS]))]


def stage_files(plan, stage: str, chunk: str | None = None, chunks: Sequence[str] = (), shards: str | None = None) -> dict:
    """The input files of one job of a stage, keyed as the stage's runner expects.

    ``chunk``: the per-chunk job's chunk; ``chunks``: every chunk (the fit's and gather's inputs);
    ``shards``: the pool's shard folder (:func:`clipcurate.scores.plan.pool_shards`).
    """
    from clipcurate.scores import get
    from clipcurate.scores.plan import POOL_INDEX, POOL_SHARDS, _as_plan, score_files

    plan = _as_plan(plan)
    m = get(plan.method)
    shards = shards or POOL_SHARDS
    if stage not in method_stages(m):
        raise ValueError(f"score {plan.name}: method {plan.method} has no stage {stage!r}; its stages: {list(method_stages(m))}")
    st = m.stages
    if st is None:
        if stage == "apply":
            return score_files(plan, chunk=chunk, shards=shards)
        if m.level == "chunk":
            return {"index": POOL_INDEX, "chunks": [stage_path(plan.name, "apply", c) for c in chunks]}
        return score_files(plan, chunks=chunks, shards=shards)
    params_in = {f"param_{p}": plan.params[p] for p in st.param_files.get(stage, ()) if plan.params.get(p)}
    if stage == "prepare":
        return {**score_files(plan, chunk=chunk, shards=shards, only=st.prepare_inputs), **params_in}
    if stage == "fit":
        files = score_files(plan, chunks=chunks, shards=shards, only=st.fit_inputs)
        if st.prepare is not None:
            files["prepared"] = [stage_path(plan.name, "prepare", c) for c in chunks]
        return {**files, **params_in}
    if stage == "apply":
        files = score_files(plan, chunk=chunk, shards=shards, only=st.inputs_of("apply", list(m.inputs)))
        if st.fit is not None:
            files["fitted"] = stage_path(plan.name, "fit")
        if st.prepare is not None:
            files["prepared"] = stage_path(plan.name, "prepare", chunk)
        return {**files, **params_in}
    files = {"index": POOL_INDEX, "chunks": [stage_path(plan.name, "apply", c) for c in chunks]}
    if stage == "group":
        if st.fit is not None:
            files["fitted"] = stage_path(plan.name, "fit")
        return files
    if st.group is not None:  # gather
        files["groups"] = [stage_path(plan.name, "group", s) for s in group_shards(plan)]
    return files


def run_gather(plan, files: Mapping[str, Any], out_path) -> int:
    """The gather stage of a chunk-level method: chunks (and group results) to the pool-wide file."""
    from clipcurate.scores import groups
    from clipcurate.scores.runner import gather

    plan, m = _method_and_plan(plan)
    if m.stages is not None and m.stages.group is not None:
        return groups.gather(files["chunks"], files["groups"], files["index"], out_path, plan.outputs)
    return gather(files["chunks"], files["index"], out_path)


def config_resources(config: Mapping, name: str, stage: str) -> Resources:
    """:func:`stage_resources` of the score ``scores.<name>`` of a config."""
    from clipcurate.scores import get

    entry = (config.get("scores") or {})[name]
    return stage_resources(get(entry["method"]), entry, f"scores.{name}", stage)


def slurm_resources(res: Resources, gpu_jobs: bool, site_cpu: Mapping, site_gpu: Mapping) -> dict:
    """A job's Snakemake resources from its :class:`Resources`: memory and runtime; with GPUs (and
    ``gpu_jobs``: not on the tiny world, which runs every step on the CPU) ``gpu``, ``cpus_per_gpu``
    (the job's threads spread over its GPUs) and one task, as the workflow's other GPU rules ask;
    the site's partition/account/QoS of the job's kind (``site_cpu``/``site_gpu``: resource -> value)."""
    out: dict = {"mem_mb": res.mem_mb, "runtime": res.runtime}
    if res.gpu and gpu_jobs:
        out.update({"gpu": res.gpu, "cpus_per_gpu": max(1, -(-res.threads // res.gpu)), "tasks_per_gpu": 0, **site_gpu})
    else:
        out.update(site_cpu)
    return out


# --------------------------------------------------------------------------------------------
# helpers for stage functions: the same code on a lazily read chunk and on in-memory arrays


def emb_batches(emb, modalities: Sequence[str] = ("image",)):
    """``(lo, hi, {modality: array})`` over a chunk's embeddings: the row groups of a
    :class:`~clipcurate.scores.runner.ChunkEmbeddings` (a job holds one at a time), or one batch of
    an in-memory ``{"uid", "image", ...}`` dict."""
    if hasattr(emb, "batches"):
        yield from emb.batches()
    else:
        n = len(emb[modalities[0]])
        yield 0, n, {m: emb[m] for m in modalities}


def emb_take(emb, index, modality: str = "image") -> np.ndarray:
    """Rows ``index`` of one modality of a chunk's embeddings (lazily read or in memory)."""
    if hasattr(emb, "take"):
        return emb.take(index, modality)
    return np.asarray(emb[modality])[np.asarray(index, dtype=np.int64)]
