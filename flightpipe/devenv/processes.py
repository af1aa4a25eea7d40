"""Background processes we start and stop by pid (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that process still runs, else None."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours is reaped and counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False
    return True


def stop(pid: int, sig: signal.Signals, timeout: float, kill_after: bool = False) -> bool:
    """Send ``sig`` and wait for the process to end; SIGKILL after ``timeout`` if asked.

    Returns False if it was still running when this gave up.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    if kill_after:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        return not alive(pid)
    return False
