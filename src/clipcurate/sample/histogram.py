"""The repetition histogram of a subset (FLYT Figure 2), drawn with matplotlib."""

from __future__ import annotations

import numpy as np

from clipcurate.sample.counts import repetition_stats


def repetition_histogram(counts, path_png, title: str = "") -> dict:
    """Histogram of repetitions among the selected examples (FLYT Figure 2), saved as a PNG.

    The x axis is the number of times an example appears (1, 2, ...), the y axis (log scale) how many
    examples appear that many times. Returns :func:`repetition_stats`. Drawn and written with
    :func:`clipcurate.report.plots.new_figure` and :func:`~clipcurate.report.plots.save_figure`.
    """
    from clipcurate.report.plots import new_figure, save_figure

    stats = repetition_stats(counts)
    reps = np.array(list(stats["histogram"]), dtype=np.int64)
    n_examples = np.array(list(stats["histogram"].values()), dtype=np.int64)
    fig = new_figure(6, 4, layout=None)
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
    save_figure(fig, path_png, dpi=120)
    return stats
