"""How a long command shows its progress: one line rewritten in place on a terminal, one line
per item as it ends anywhere else (a CI log, a pipe), so that a log reads in order and holds no
carriage returns."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Protocol, TextIO


class Ended(Protocol):
    """An item that ended: its status, and the line that reports it."""

    status: str

    def line(self) -> str: ...


@dataclass(frozen=True)
class Counts:
    done: int
    total: int
    running: int
    failed: int
    elapsed: float

    def text(self) -> str:
        return (
            f"{self.done}/{self.total} days done, {self.running} running, {self.failed} failed, "
            f"{clock_text(self.elapsed)} elapsed"
        )


def clock_text(seconds: float) -> str:
    """``M:SS``, or ``H:MM:SS`` from an hour on."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def one_line(text: str, limit: int = 400) -> str:
    """``text`` with its whitespace runs as single spaces, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class Progress:
    """Progress of the days being run, on ``out``.

    A terminal gets one line rewritten in place (a bar and the counts), and failures above it as
    they happen; anything else (a CI log, a pipe, a file) gets one line per day as it ends, so
    that it reads the same in order and carries no carriage returns.
    """

    BAR = 24

    def __init__(self, out: TextIO, tty: bool | None = None):
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.shown = 0  # characters of the line on screen

    def update(self, counts: Counts) -> None:
        if not self.tty:
            return
        filled = self.BAR * counts.done // counts.total if counts.total else self.BAR
        text = f"[{'#' * filled}{'-' * (self.BAR - filled)}] {counts.text()}"
        width = shutil.get_terminal_size().columns - 1  # a full line would wrap
        text = text[:width]
        self.out.write("\r" + text.ljust(self.shown))
        self.out.flush()
        self.shown = len(text)

    def ended(self, run: Ended, counts: Counts) -> None:
        if not self.tty:
            self.out.write(f"{run.line()}  [{counts.text()}]\n")
            self.out.flush()
            return
        if run.status != "SUCCEEDED":
            self.out.write("\r" + run.line().ljust(self.shown) + "\n")
            self.shown = 0
        self.update(counts)

    def close(self) -> None:
        if self.tty and self.shown:
            self.out.write("\n")
            self.out.flush()
            self.shown = 0
