"""Progress of long steps in the rule logs: a tqdm bar with a total, a rate and an ETA.

Rule scripts route stderr to their log file (:mod:`clipcurate.core.runlog`). A file is not a terminal:
tqdm's carriage-return redraws would pile up on one line, so the bar is written as whole lines,
at most one every ``mininterval`` seconds (plus the first and the last), e.g.::

    embed openai chunk 3:  42%|####2     | 2150/5120 [00:11<00:15, 193.20 samples/s]
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm import tqdm

T = TypeVar("T")

#: seconds between two progress lines in a log file (a terminal redraws faster)
LOG_INTERVAL = float(os.environ.get("CLIPCURATE_PROGRESS_INTERVAL", "30"))


class _Lines:
    """A file-like that turns tqdm's ``\\r`` redraws into one log line per refresh."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, s: str) -> None:
        s = s.replace("\r", "").strip("\n")
        if s.strip():
            self.stream.write(s + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(iterable: Iterable[T] | None = None, *, total: int | float | None = None, desc: str = "",
             unit: str = "it", unit_scale: bool = False, stream=None) -> tqdm:
    """A tqdm bar that logs ``desc``, done/``total`` ``unit``, the rate and the ETA.

    Use as an iterator wrapper or, without ``iterable``, call ``.update(n)`` and ``.close()``. A
    terminal gets tqdm's own redrawn bar; a log file gets one line every :data:`LOG_INTERVAL` s.
    """
    stream = stream if stream is not None else sys.stderr
    tty = bool(getattr(stream, "isatty", lambda: False)())
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale,
        file=stream if tty else _Lines(stream), mininterval=0.5 if tty else LOG_INTERVAL,
        maxinterval=max(LOG_INTERVAL, 10.0), ascii=not tty, dynamic_ncols=tty, ncols=None if tty else 100,
        smoothing=0.1,
    )
