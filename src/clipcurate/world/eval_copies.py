"""Decontamination's ground truth: evaluation test images planted in the pool (kind ``eval_copy``).

DataComp removes pool samples that duplicate evaluation images; the dedup stage's ``decontam``
method does the same here, and needs something to find. The world plants ``kinds.eval_copy`` x
``pool_size`` copies of distinct test images, drawn over every task in proportion to its size, of
which ``eval_copy_exact_fraction`` are exact (the same JPEG bytes as the task's shard member, so the
same sha256) and the rest lightly perturbed (a one-pixel shift, Gaussian noise of sigma 2, a JPEG
round trip at quality 75-90: a near duplicate that a perceptual hash or an embedding finds, not a
byte hash). Each copy's caption describes its scene as a clean caption would (a retrieval image
takes its first caption). ``truth.parquet``'s ``eval_of`` names the copied image as ``<task>/<key>``
(the key inside ``eval/<task>/test/*.tar``); ``world.json``'s ``pool.eval_copies`` counts them.

The copies are planned with the pool (``pool/eval_copies`` stream) and rendered after the tasks,
whose redraws (an eval image equal to a training image is redrawn) may change the copied scene.
"""

from __future__ import annotations

import numpy as np

from . import concepts as C
from .streams import stream


def plan_eval_copies(cfg: dict, seed: int, n: int) -> list[dict]:
    """``n`` distinct (task, index) picks with their perturbation: dicts of task, index, eval_of,
    exact, and (perturbed ones) dx, dy, sigma, noise_seed, quality."""
    from .eval_tasks import _task_specs, sample_key, task_size

    if n == 0:
        return []
    rng = stream(seed, "pool/eval_copies")
    tasks = [s["name"] for s in _task_specs()]
    sizes = np.array([task_size(cfg, t) for t in tasks])
    total = int(sizes.sum())
    if n > total:
        from .verify import WorldError

        raise WorldError(f"world cfg: kinds.eval_copy asks for {n} eval copies, the tasks have {total} test images")
    flat = np.sort(rng.choice(total, size=n, replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = rng.permutation(n)  # pool order is not task order
    out = []
    for k in order.tolist():
        g = int(flat[k])
        t = int(np.searchsorted(starts, g, side="right") - 1)
        index = g - int(starts[t])
        c = {"task": tasks[t], "index": index, "eval_of": f"{tasks[t]}/{sample_key(index)}",
             "exact": bool(rng.random() < float(cfg["eval_copy_exact_fraction"]))}
        if not c["exact"]:
            dx, dy = [(1, 0), (-1, 0), (0, 1), (0, -1)][int(rng.integers(4))]
            c.update(dx=dx, dy=dy, sigma=2.0, noise_seed=int(rng.integers(0, 2**31 - 1)),
                     quality=int(rng.integers(75, 91)))
        out.append(c)
    return out


def resolve(plan: list[dict], planned_tasks: dict[str, dict], seed: int) -> None:
    """Fill in the text, job and cls of the plan's ``eval_copy`` rows from the written tasks'
    ``{task: {index: (scene, captions or None)}}``."""
    rng = stream(seed, "pool/eval_copies/captions")
    for row in plan:
        c = row.get("eval_copy")
        if c is None:
            continue
        scene, caps = planned_tasks[c["task"]][c["index"]]
        text = caps[0] if caps else C.caption_en(scene, rng)
        if c["exact"]:
            job = ("scene", scene)
        else:
            job = ("neardup", scene, c["dx"], c["dy"], c["sigma"], c["noise_seed"], c["quality"])
        row.update(text=text, job=job, cls=scene.cls if scene.subject == "shape" else None)


def summary(plan: list[dict]) -> dict:
    """``{count, exact, perturbed, tasks: {task: n}}`` of the plan's eval copies."""
    copies = [r["eval_copy"] for r in plan if r.get("eval_copy") is not None]
    tasks: dict[str, int] = {}
    for c in copies:
        tasks[c["task"]] = tasks.get(c["task"], 0) + 1
    exact = sum(1 for c in copies if c["exact"])
    return {"count": len(copies), "exact": exact, "perturbed": len(copies) - exact, "tasks": dict(sorted(tasks.items()))}
