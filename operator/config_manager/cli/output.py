"""Console output for the ``configmanager`` command: errors, progress and tables, in one place.

Why a module: every sub-command reports the same way (errors on stderr with one prefix, progress that
only animates on a terminal, tables aligned the same), and one place decides that nothing printed here
carries a secret value unless the caller is the explicit ``--reveal`` path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

PROG = "configmanager"


def error(message: str) -> None:
    """One error line on stderr, prefixed with the program name."""
    print(f"{PROG}: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def info(message: str) -> None:
    """A status line on stderr (stdout is kept for data a script may parse)."""
    print(message, file=sys.stderr)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO | None = None) -> None:
    """Left-aligned columns separated by two spaces, like ``kubectl get``."""
    stream = out or sys.stdout
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    for row in [list(headers), *[list(r) for r in rows]]:
        stream.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


class Progress:
    """Progress of a long operation on stderr: a live counter on a terminal, a start and end line otherwise.

    Used as a context manager; ``step()`` advances it. It shows counts and the operation's name only.
    """

    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self._live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = 0.0

    def __enter__(self) -> Progress:
        self._started = time.monotonic()
        if not self._live:
            self.stream.write(f"{self.label}...\n")
        self._draw()
        return self

    def step(self, count: int = 1) -> None:
        self.done += count
        self._draw()

    def _draw(self) -> None:
        if not self._live:
            return
        of = f"/{self.total}" if self.total is not None else ""
        self.stream.write(f"\r{self.label}: {self.done}{of}")
        self.stream.flush()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        elapsed = time.monotonic() - self._started
        outcome = "failed" if exc_type else "done"
        of = f"/{self.total}" if self.total is not None else ""
        prefix = "\r" if self._live else ""
        self.stream.write(f"{prefix}{self.label}: {outcome} ({self.done}{of} in {elapsed:.1f}s)\n")
        self.stream.flush()
