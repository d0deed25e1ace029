"""The repetition histogram of a subset (FLYT Figure 2), drawn with matplotlib."""

from __future__ import annotations

import numpy as np

from clipcurate.sample.counts import repetition_stats


def repetition_histogram(counts, path_png, title: str = "") -> dict:
    """Histogram of repetitions among the selected examples (FLYT Figure 2), saved as a PNG.

    The x axis is the number of times an example appears (1, 2, ...), the y axis (log scale) how many
    examples appear that many times. Returns :func:`repetition_stats`. The figure is drawn on
    matplotlib's Agg canvas without pyplot (no global figure state, no display needed) and written
    through :func:`clipcurate.io.atomic_path`, so an interrupted job never leaves a truncated PNG.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from clipcurate import io

    stats = repetition_stats(counts)
    reps = np.array(list(stats["histogram"]), dtype=np.int64)
    n_examples = np.array(list(stats["histogram"].values()), dtype=np.int64)
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(reps, n_examples, width=max(0.9, stats["max_count"] / 200), color="#4477aa")
    if stats["n_unique"]:
        ax.set_yscale("log")
    ax.set_xlabel("repetitions of an example")
    ax.set_ylabel("number of examples")
    ax.set_title(title, fontsize=9)
    ax.text(
        0.98, 0.95,
        f"unique {stats['n_unique']:,}\ntotal {stats['n_total']:,}\nmax {stats['max_count']}",
        transform=ax.transAxes, ha="right", va="top", fontsize=8,
    )
    fig.tight_layout()
    with io.atomic_path(path_png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return stats
