"""Data Filtering Networks (Fang et al., 2023) on this workflow: training data and the data-quality
experiment.

A DFN is a CLIP model trained on a small, clean set (the world's ``hq`` set stands in for CC12M);
DFN filtering is CLIP-score filtering with the DFN's embeddings (the ``clip_score`` method with
``model: dfn``). This module holds what that needs beyond ordinary training:

- :func:`reference_train_data`: the training data of an auxiliary CLIP: one or several reference
  sets (DFN-FT fine-tunes on the downstream-train set plus the retrieval-train set, FLYT Table 6),
  optionally with a fraction of the set replaced by pool samples (the DFN paper's data-quality
  experiment: the HQ set is gradually replaced by unfiltered pool data), only a seeded share of the
  set kept (clean DFNs of different sizes) or pool samples added to it (a larger but noisier set).
- the DFN paper's binary-classifier backbone (Table 1) is :mod:`clipcurate.scores.helpers.classifier`.
- :func:`expand_quality_experiment`: the experiment's models, scores and recipes from one config
  block (the replacement series and variants whose own accuracy differs for other reasons), and
  :func:`quality_points` / :func:`plot_quality` for its CSV and figure (uncertainties both ways).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from clipcurate.core import fileio, poolindex
from clipcurate.pool.download import shard_path
from clipcurate.pool.reshard import _iter_samples, _ShardWriter

log = logging.getLogger(__name__)


class DFNError(ValueError):
    pass


# ---- training data of an auxiliary CLIP -------------------------------------------------------


def reference_shards(where: str | os.PathLike | Mapping[str, str], name: str) -> tuple[list[Path], int]:
    """The shard files and sample count of a reference set.

    ``where`` is the world's directory (its sets are ``reference/<name>``) or a mapping of set
    names to shard folders (the world's and the user's ``reference_sets:``, e.g. a CC12M-style
    HQ set downloaded with img2dataset at real scale). The count is the set's ``meta.json``
    (the world's), else the successes in img2dataset's ``*_stats.json`` files, else the images
    counted in the shards.
    """
    if isinstance(where, Mapping):
        if name not in where:
            raise DFNError(f"train.dataset: unknown reference set {name!r}; known sets: {sorted(where)}")
        d = Path(where[name])
    else:
        d = Path(where) / "reference" / name
        if not (d / "meta.json").exists():
            known = sorted(p.name for p in (Path(where) / "reference").glob("*") if p.is_dir())
            raise DFNError(f"{d}: no reference set {name!r} in the world (train.dataset); known sets: {known}")
    shards = sorted(d.glob("*.tar"))
    if not shards:
        raise DFNError(f"{d}: reference set {name!r} has no .tar shards")
    return shards, set_size(d, shards)


def set_size(d: Path, shards: Sequence[Path]) -> int:
    """Samples in a shard folder (see :func:`reference_shards`)."""
    import tarfile

    meta = d / "meta.json"
    if meta.exists():
        return int(json.loads(meta.read_text())["num_samples"])
    stats = sorted(d.glob("*_stats.json"))
    if len(stats) == len(shards):
        return sum(int(json.loads(p.read_text())["successes"]) for p in stats)
    n = 0
    for shard in shards:
        with tarfile.open(shard) as tar:
            n += sum(1 for m in tar if m.name.endswith((".jpg", ".jpeg", ".png", ".webp")))
    return n


def _read_pool_samples(index_path, shards_dir, rows: np.ndarray) -> list[tuple[str, dict]]:
    """(uid, {jpg, txt}) of the pool index rows ``rows`` (in the order given)."""
    index = poolindex.read_index(index_path, columns=["uid", "shard", "key"])
    uid = index.column("uid").to_pylist()
    shard = index.column("shard").to_numpy()
    key = index.column("key").to_pylist()
    wanted: dict[int, dict[str, int]] = {}
    for r in rows:
        wanted.setdefault(int(shard[r]), {})[key[r]] = int(r)
    found: dict[int, dict] = {}
    for s in sorted(wanted):
        for k, files in _iter_samples(shard_path(shards_dir, s)):
            if k in wanted[s]:
                found[wanted[s][k]] = {"jpg": files["jpg"], "txt": files.get("txt", b"")}
    missing = [int(r) for r in rows if int(r) not in found]
    if missing:
        r = missing[0]
        raise fileio.ContractError(f"{shards_dir}: {len(missing)} indexed pool samples not found in their shards, e.g. uid {uid[r]}")
    return [(uid[int(r)], found[int(r)]) for r in rows]


def replace_with_pool(
    ref_shards: Sequence[str | os.PathLike],
    pool_index,
    pool_shards,
    fraction: float,
    seed: int,
    out_dir: str | os.PathLike,
    shard_size: int = 1000,
    *,
    keep: float = 1.0,
    add: float = 0.0,
) -> dict:
    """Write a copy of a reference set with ``round(fraction * n)`` of its samples replaced by pool samples.

    The replaced reference samples and the pool samples that take their place are drawn without
    replacement by a generator seeded with ``seed``, so a fraction and a seed name one dataset; the
    set keeps its size. The samples are written in a seeded random order (webdataset shards of
    ``shard_size``) so that no shard holds only one source. Returns the meta (also ``meta.json``).

    ``keep`` < 1 first keeps only ``round(keep * n)`` of the set's samples (drawn by the same
    generator; n is then that smaller count): a clean set of another size. ``add`` > 0 adds
    ``round(add * n)`` pool samples besides the replaced ones: a larger, noisier set. With the
    defaults the draws are exactly those of a plain replacement.
    """
    if not 0.0 <= fraction <= 1.0:
        raise DFNError(f"train.replace_with_pool: expected a fraction in [0, 1], got {fraction}")
    if not 0.0 < keep <= 1.0:
        raise DFNError(f"train.subsample: expected a fraction in (0, 1], got {keep}")
    if add < 0:
        raise DFNError(f"train.add_from_pool: expected a multiple of the set's size >= 0, got {add}")
    samples = [(f"ref-{k}", {e: files[e] for e in ("jpg", "txt") if e in files}) for s in ref_shards for k, files in _iter_samples(Path(s))]
    rng = np.random.default_rng(seed)
    if keep < 1.0:
        kept_rows = np.sort(rng.choice(len(samples), size=max(1, int(round(keep * len(samples)))), replace=False))
        samples = [samples[i] for i in kept_rows]
    n = len(samples)
    k = int(round(fraction * n))
    k_add = int(round(add * n))
    drop = set(rng.choice(n, size=k, replace=False).tolist()) if k else set()
    n_pool = poolindex.index_num_rows(pool_index) if k + k_add else 0
    if k + k_add > n_pool:
        raise DFNError(f"train.replace_with_pool={fraction}, add_from_pool={add}: needs {k + k_add} pool samples "
                       f"but the pool index {pool_index} has {n_pool}")
    rows = np.sort(rng.choice(n_pool, size=k + k_add, replace=False)) if k + k_add else np.zeros(0, np.int64)
    kept = [s for i, s in enumerate(samples) if i not in drop]
    added = [(f"pool-{u}", files) for u, files in _read_pool_samples(pool_index, pool_shards, rows)] if len(rows) else []
    mixed = kept + added
    order = rng.permutation(len(mixed))
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer = _ShardWriter(tmp, shard_size)
    for i in order:
        writer.write(*mixed[i])
    writer.close()
    meta = {"num_samples": len(mixed), "reference": n - k, "pool": k + k_add, "fraction": fraction, "seed": seed,
            "shards": writer.shard}
    if keep < 1.0 or add:
        meta.update(subsample=keep, add_from_pool=add)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return meta


#: keys of a model's ``train`` section that describe its data, not its optimisation
DATA_KEYS = ("dataset", "replace_with_pool", "add_from_pool", "subsample", "seed")


def uses_pool(train: Mapping) -> bool:
    """Whether a model's training data takes samples from the pool (then the pool is an input)."""
    return bool(train.get("replace_with_pool") or train.get("add_from_pool"))


def train_data(train: Mapping, sets, work_dir, pool_index=None, pool_shards=None, seed: int = 0):
    """:func:`reference_train_data` for a model's ``train`` section (dataset, replace_with_pool,
    subsample, add_from_pool); ``sets``: the world's directory or set name -> shard folder."""
    return reference_train_data(
        sets, train["dataset"], work_dir,
        replace_fraction=float(train.get("replace_with_pool") or 0.0),
        keep_fraction=float(train.get("subsample") or 1.0),
        add_fraction=float(train.get("add_from_pool") or 0.0),
        pool_index=pool_index, pool_shards=pool_shards, seed=seed,
    )


def reference_train_data(
    sets,
    datasets: str | Sequence[str],
    work_dir,
    *,
    replace_fraction: float = 0.0,
    pool_index=None,
    pool_shards=None,
    seed: int = 0,
    keep_fraction: float = 1.0,
    add_fraction: float = 0.0,
) -> tuple[list[Path], int, dict]:
    """Shards, sample count and a description of an auxiliary model's training data.

    ``datasets`` is one reference set or a list of them (their union), found in ``sets`` (see
    :func:`reference_shards`). With ``replace_fraction``
    > 0, ``keep_fraction`` < 1 or ``add_fraction`` > 0 (a single set only) a mixed copy is written
    under ``work_dir`` first (:func:`replace_with_pool`).
    """
    names = [datasets] if isinstance(datasets, str) else list(datasets)
    if not names:
        raise DFNError("train.dataset: expected a reference set name or a non-empty list of them")
    if replace_fraction or add_fraction or keep_fraction < 1.0:
        if len(names) != 1:
            raise DFNError(f"train.replace_with_pool, subsample and add_from_pool need a single train.dataset, got {names}")
        if (replace_fraction or add_fraction) and (pool_index is None or pool_shards is None):
            raise DFNError("train.replace_with_pool and add_from_pool need the pool index and shards")
        shards, _ = reference_shards(sets, names[0])
        # the fraction and seed name the folder, so that the training command line (which resumes a
        # run only when it is unchanged) differs whenever the data does
        name = f"replaced{replace_fraction:g}_seed{seed}"
        name += f"_keep{keep_fraction:g}" if keep_fraction < 1.0 else ""
        name += f"_add{add_fraction:g}" if add_fraction else ""
        out = Path(work_dir) / name
        meta = replace_with_pool(shards, pool_index, pool_shards, replace_fraction, seed, out,
                                 keep=keep_fraction, add=add_fraction)
        return sorted(out.glob("*.tar")), meta["num_samples"], {"datasets": names, **meta}
    shards, total = [], 0
    for name in names:
        s, n = reference_shards(sets, name)
        shards += s
        total += n
    return shards, total, {"datasets": names, "num_samples": total}


# ---- the data-quality experiment ------------------------------------------------------------------


def quality_name(replaced: float, seed: int) -> str:
    """Model/score name of one point: ``dfn_q025_s0`` = 25 % replaced, seed 0."""
    return f"dfn_q{int(round(replaced * 100)):03d}_s{int(seed)}"


def variant_name(name: str, seed: int) -> str:
    """Model/score name of a variant point: ``dfn_clean_half_s0``."""
    return f"dfn_{name}_s{int(seed)}"


def expand_quality_experiment(block: Mapping, models: Mapping, default_seed: int, recipes: Mapping | None = None) -> dict:
    """Models, scores and recipes of the data-quality experiment, from its config block.

    ``block``: ``{base: <model>, replaced: [fractions], seeds: [ints], fraction: <kept fraction>}``,
    optionally ``base_recipe``: the recipe of the base DFN at that fraction, which then stands for the
    0 %-replaced point at the base's seed (the same training would otherwise run twice).
    Each (replaced, seed) point is a copy of the base model's spec whose training replaces that
    fraction of its set by pool data, drawn with that seed (the seed also seeds the training); the
    point's score is the CLIP score of its embeddings and its recipe keeps the top ``fraction``.

    The DFN paper's finding is that a DFN's own ImageNet accuracy does not predict the quality of
    the data it induces; to show it, DFNs must differ in their own accuracy for other reasons than
    their data's quality. ``train`` overrides the base's training for every point (e.g. a longer
    ``samples_seen``, so that the DFNs are well above chance; then ``base_recipe`` cannot stand for the
    0 % point), and ``variants`` adds DFNs that differ in another way, each
    ``{name, label, replaced (default 0), train: {overrides}}``: e.g. clean sets of other sizes
    (``train.subsample``), a DFN trained longer on noisier data, or a larger but noisier set
    (``train.add_from_pool``), which read better on ImageNet and may filter worse.

    Returns ``{"models", "scores", "recipes", "points"}``; ``points`` lists
    ``{name, label, kind (replaced | variant), replaced, seed, model, recipe}``.
    """
    base_name = block["base"]
    if base_name not in models:
        raise DFNError(f"config: dfn_quality.base: unknown model {base_name!r}; known: {sorted(models)}")
    base = models[base_name]
    if not base.get("train"):
        raise DFNError(f"config: dfn_quality.base: model {base_name!r} has no train section")
    base_recipe = block.get("base_recipe")
    if base_recipe is not None and base_recipe not in (recipes or {}):
        raise DFNError(f"config: dfn_quality.base_recipe: unknown recipe {base_recipe!r}")
    common = dict(block.get("train") or {})
    if base_recipe and common:
        raise DFNError("config: dfn_quality: base_recipe reuses the base DFN as the 0% point, but dfn_quality.train "
                       f"changes every point's training ({sorted(common)}): drop base_recipe")
    keep_pct = int(round(block["fraction"] * 100))
    out = {"models": {}, "scores": {}, "recipes": {}, "points": []}

    def add(name, label, kind, replaced, seed, overrides):
        train = {**base["train"], **common, **overrides, "replace_with_pool": float(replaced), "seed": int(seed)}
        out["models"][name] = {**base, "train": train}
        out["scores"][name] = {"method": "clip_score", "model": name}
        recipe = f"{name}_top{keep_pct}"
        out["recipes"][recipe] = {
            "label": f"DFN, {label} (seed {seed})",
            "score": name,
            "sample": {"method": "threshold", "fraction": float(block["fraction"])},
        }
        out["points"].append({"name": name, "label": label, "kind": kind, "replaced": float(replaced), "seed": int(seed),
                              "model": name, "recipe": recipe})

    names = set()
    for v in block.get("variants") or []:
        if v["name"] in names:
            raise DFNError(f"config: dfn_quality.variants: name {v['name']!r} appears twice")
        names.add(v["name"])
    for seed in block.get("seeds") or [default_seed]:
        for r in block["replaced"]:
            name = quality_name(r, seed)
            label = f"{int(round(r * 100))}% of HQ replaced"
            if base_recipe and r == 0 and int(seed) == int(base["train"].get("seed", default_seed)):
                # the base DFN itself: the same data, seed and training; reuse it and its recipe
                out["points"].append({"name": name, "label": label, "kind": "replaced", "replaced": 0.0,
                                      "seed": int(seed), "model": base_name, "recipe": base_recipe})
                continue
            add(name, label, "replaced", r, seed, {})
        for v in block.get("variants") or []:
            add(variant_name(v["name"], seed), v["label"], "variant", v.get("replaced", 0.0), seed, dict(v.get("train") or {}))
    return out


def point_label(point: Mapping) -> str:
    """A data-quality point's row label in its CSV (``method``, as table rows name theirs):
    "<label> (seed <s>)"; config ``rows_only`` and the claims name points by it."""
    return f"{point.get('label', point['name'])} (seed {point['seed']})"


def quality_points(points: Sequence[Mapping], dfn_acc: Mapping[str, float], subset_acc: Mapping[str, float],
                   dfn_se: Mapping[str, float] | None = None, subset_se: Mapping[str, float] | None = None) -> list[dict]:
    """One CSV row per point: its label (``method``, as table rows name theirs, so that
    :mod:`clipcurate.report.claims` can compare points), replaced fraction, seed, the DFN's own and its
    subset's ImageNet accuracy, each with its standard error (NaN when not given)."""
    dfn_se, subset_se = dfn_se or {}, subset_se or {}
    return [
        {"method": point_label(p), "name": p["name"], "kind": p.get("kind", "replaced"),
         "replaced": p["replaced"], "seed": p["seed"],
         "dfn_imagenet": dfn_acc[p["model"]], "dfn_imagenet_se": dfn_se.get(p["model"], math.nan),
         "subset_imagenet": subset_acc[p["recipe"]], "subset_imagenet_se": subset_se.get(p["recipe"], math.nan),
         "recipe": p["recipe"]}
        for p in points
    ]


def plot_quality(rows: Sequence[Mapping], path):
    """Scatter with error bars both ways (± 1 standard error): x = the DFN's own ImageNet-analogue
    accuracy, y = its induced subset's. Points of the replacement series are coloured by the share
    replaced; variants (other sizes, longer training, added pool data) get their own markers and
    labels. Returns the Figure (saved to ``path``)."""
    from matplotlib import colormaps

    from clipcurate.report.plots import new_figure, save_figure

    fig = new_figure(7.5, 5, layout="constrained")
    ax = fig.add_subplot()

    def err(pts, key):
        v = [r.get(key, math.nan) for r in pts]
        return None if all(x is None or math.isnan(x) for x in v) else [0.0 if x is None or math.isnan(x) else x for x in v]

    replaced = [r for r in rows if r.get("kind", "replaced") == "replaced"]
    fracs = sorted({r["replaced"] for r in replaced})
    cmap = colormaps["viridis"]
    for i, f in enumerate(fracs):
        pts = [r for r in replaced if r["replaced"] == f]
        ax.errorbar([r["dfn_imagenet"] for r in pts], [r["subset_imagenet"] for r in pts],
                    xerr=err(pts, "dfn_imagenet_se"), yerr=err(pts, "subset_imagenet_se"), fmt="o", markersize=7,
                    color=cmap(i / max(1, len(fracs) - 1)), capsize=2, elinewidth=0.8,
                    label=f"{int(round(f * 100))}% of HQ replaced", zorder=3)
    markers = "sD^vP*X<>"
    variants = list(dict.fromkeys(r["name"].rsplit("_s", 1)[0] for r in rows if r.get("kind") == "variant"))
    for j, v in enumerate(variants):
        pts = [r for r in rows if r.get("kind") == "variant" and r["name"].rsplit("_s", 1)[0] == v]
        label = pts[0]["method"].rsplit(" (seed", 1)[0]
        ax.errorbar([r["dfn_imagenet"] for r in pts], [r["subset_imagenet"] for r in pts],
                    xerr=err(pts, "dfn_imagenet_se"), yerr=err(pts, "subset_imagenet_se"),
                    fmt=markers[j % len(markers)], markersize=7, color="#333333", mfc="white", capsize=2,
                    elinewidth=0.8, label=label, zorder=3)
    ax.set_xlabel("DFN's own ImageNet-analogue accuracy (zero-shot; bars ± 1 SE)")
    ax.set_ylabel("ImageNet-analogue accuracy of the model\ntrained on the DFN-filtered subset (± 1 SE)")
    ax.set_title("DFN data quality: a DFN's own accuracy against the data it induces", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="DFN training data", title_fontsize=7)
    save_figure(fig, path, dpi=120)
    return fig
