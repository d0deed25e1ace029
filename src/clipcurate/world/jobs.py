"""Rendering jobs: picklable tuples describing one served image, run in worker processes when
``threads > 1``. Rendering is a pure function of the job, so ``threads`` changes speed, never content.

Jobs (the first element names the operation, the second is always the :class:`~.concepts.Scene`):

* ``("scene", scene)``: the scene at the native size;
* ``("neardup", scene, dx, dy, sigma, seed, quality)``: shifted, noised, JPEG round-tripped;
* ``("resize", scene, w, h)``: squashed or shrunk to ``w`` x ``h`` (bad geometry);
* ``("canvas", job, w, h)``: the image of ``job`` centred on a ``w`` x ``h`` canvas, its edge pixels
  extended (a non-square photo whose centre crop is the scene);
* ``("truncated", scene)``: the first half of the JPEG bytes.
"""

from __future__ import annotations

import multiprocessing
from typing import Iterator

import numpy as np

from . import render as R


def job_scene(job: tuple):
    """The :class:`~.concepts.Scene` a job renders (through any canvas)."""
    while job[0] == "canvas":
        job = job[1]
    return job[1]


def render_job(job: tuple, size: int) -> np.ndarray:
    """The pixel array of ``job`` (not for ``truncated``, whose payload is bytes)."""
    op = job[0]
    if op == "canvas":
        _, inner, w, h = job
        return R.extend_canvas(render_job(inner, size), int(w), int(h))
    arr = R.render_scene(job[1], size)
    if op == "scene":
        return arr
    if op == "neardup":
        _, _, dx, dy, sigma, seed, quality = job
        return R.perturb(arr, dx, dy, sigma, seed, quality)
    if op == "resize":
        _, _, w, h = job
        return R.resize(arr, w, h)
    raise ValueError(f"unknown render job {op!r}")


def run_job(job: tuple, size: int) -> tuple[bytes, int, int, bytes]:
    """-> (payload bytes, width, height, pixel hash of the encoded array)."""
    if job[0] == "truncated":
        arr = R.render_scene(job[1], size)
        data = R.encode_jpeg(arr)
        return data[: len(data) // 2], size, size, R.pixel_hash(arr)
    arr = render_job(job, size)
    return R.encode_jpeg(arr), arr.shape[1], arr.shape[0], R.pixel_hash(arr)


def _run_chunk(args) -> list:
    jobs, size = args
    return [run_job(j, size) for j in jobs]


PARALLEL_MIN_JOBS = 512  # below this, worker start-up costs more than it saves


def map_jobs(jobs: list, size: int, threads: int) -> Iterator[tuple]:
    """``run_job`` over ``jobs`` in order, in ``threads`` forked workers when there are enough jobs."""
    if threads <= 1 or len(jobs) < PARALLEL_MIN_JOBS:
        for j in jobs:
            yield run_job(j, size)
        return
    chunk = 256
    chunks = [(jobs[i : i + chunk], size) for i in range(0, len(jobs), chunk)]
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    with ctx.Pool(threads) as pool:
        for res in pool.imap(_run_chunk, chunks):
            yield from res
