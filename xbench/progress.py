"""Progress for long commands: rich bars on a terminal, plain periodic lines otherwise, nothing when quiet.

One bar (or line) per key: a language while translating, a config while scoring. Library bars
(datasets, transformers) are silenced separately (``xbench.quiet``) so only these show.
"""

from __future__ import annotations

import sys
import time
from typing import IO

PLAIN_INTERVAL_S = 30.0


class ProgressDisplay:
    """``advance(key, delta, total)`` or ``update(key, done, total)`` per step; ``note(text)`` for a side line."""

    def __init__(self, label: str, *, quiet: bool = False, stream: IO[str] | None = None, tty: bool | None = None, interval: float = PLAIN_INTERVAL_S):
        self.label = label  # with {key}: "scoring {key}"
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self._bar = None
        self._tasks: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._last_line: dict[str, float] = {}

    def __enter__(self) -> ProgressDisplay:
        if not self.quiet and self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            console = Console(file=self.stream)
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif not self.quiet:
            for key in self._done:
                if self._last_line.get(key) != -1.0:  # the final line of every key not yet finished on screen
                    self._line(key)

    def advance(self, key: str, delta: int, total: int) -> None:
        self.update(key, self._done.get(key, 0) + delta, total)

    def update(self, key: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if key not in self._done:
            self._started[key] = now
            self._last_line[key] = now
            if self._bar is not None:
                self._tasks[key] = self._bar.add_task(self.label.format(key=key), total=total)
        self._done[key], self._totals[key] = min(done, total), total
        if self._bar is not None:
            self._bar.update(self._tasks[key], completed=self._done[key], total=total)
        elif done >= total or now - self._last_line[key] >= self.interval:
            self._line(key)
            self._last_line[key] = -1.0 if done >= total else now

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def _line(self, key: str) -> None:
        done, total = self._done[key], self._totals[key]
        elapsed = time.monotonic() - self._started[key]
        percent = f" ({100 * done / total:.0f}%)" if total else ""
        print(f"{self.label.format(key=key)}: {done:,}/{total:,}{percent} {_duration(elapsed)}", file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
