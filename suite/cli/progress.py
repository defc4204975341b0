"""Progress of a long command, told to stderr: a redrawn bar on a terminal; in a log (a CI job has
no terminal) one short line every ``INTERVAL`` seconds and one at the end, never thousands of
redraws; nothing at all when quiet."""

from __future__ import annotations

import sys
import time

INTERVAL = 10.0  # seconds between two lines in a log


class Progress:
    """Counts planned and finished work; ``planned(n)`` adds to the total, ``finished(label)``
    marks one piece done (``label``: what is running now)."""

    def __init__(self, description: str, unit: str, quiet: bool = False, stream=None, clock=time.monotonic):
        self.description, self.unit, self.stream, self.clock = description, unit, stream or sys.stderr, clock
        self.quiet = quiet
        self.total = self.done = 0
        self.started = self.told = clock()
        self.bar = None
        if not quiet and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=0, unit=unit, desc=description, dynamic_ncols=True, file=self.stream)

    def planned(self, count: int) -> None:
        self.total += count
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def finished(self, label: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label[:60])
            self.bar.update(1)
        elif not self.quiet and self.clock() - self.told >= INTERVAL:
            self._line()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet and self.done:
            self._line()

    def _line(self) -> None:
        self.told = self.clock()
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        print(f"{self.description}: {self.done} of {self.total} {self.unit}s{share}, "
              f"{self.told - self.started:.0f} s", file=self.stream, flush=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
