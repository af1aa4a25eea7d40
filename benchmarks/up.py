"""Benchmark: ``flightpipe local up`` from nothing to healthy and deployed, and again while up.

Runs ``.venv/bin/flightpipe local up`` as a person does (``make local-up`` once installed), in a
state folder of its own and on free ports, so a running ``make local-up`` is left alone.
``--runs`` times, each with nothing running: the first from an empty state folder, the others
from the folder ``flightpipe local down`` left (``make local-down; make local-up``). Each is
timed from the command's start to its exit: PostgreSQL, the Glue service and LocalStack
answering, the pipeline deployed, ``stack.env`` written. Spark warms after that, in the
background, and is not waited for. Alongside, when each part first answered: PostgreSQL's
port, the Glue service (its port file, written once it answers), LocalStack's health, and
``stack.env``. Then ``up`` once more while up, which changes nothing. Prints each time and the
median of the runs from nothing; the target is 10 s. The stack is stopped and its folder
removed at the end.

    .venv/bin/python benchmarks/up.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from flightpipe.devenv.postgres import free_port
from flightpipe.settings import LocalSettings
from flightpipe.stack.local import LocalStack

FLIGHTPIPE = Path(sys.executable).parent / "flightpipe"


def environment(settings: LocalSettings) -> dict[str, str]:
    """The caller's environment, pointed at ``settings``; without a ``DATABASE_URL``, which
    would make ``up`` use that server instead of starting its own."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {
        **env,
        "FLIGHTPIPE_STATE_DIR": str(settings.state_dir),
        "FLIGHTPIPE_STACK_PORT": str(settings.stack_port),
        "FLIGHTPIPE_POSTGRES_PORT": str(settings.postgres_port),
    }


def flightpipe(settings: LocalSettings, *args: str) -> None:
    done = subprocess.run(
        [str(FLIGHTPIPE), *args], env=environment(settings), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"flightpipe {' '.join(args)} failed:\n{done.stderr[-4000:]}")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Milestones:
    """When each part of the stack first answered, in seconds from ``started``, polled every
    0.1 s in a thread while ``up`` runs."""

    def __init__(self, settings: LocalSettings, started: float):
        self.stack = LocalStack(settings)
        self.started = started
        self.seen: dict[str, float] = {}
        self.done = threading.Event()
        self.checks = {
            "PostgreSQL": lambda: listening(settings.postgres_port),
            "Glue service": self.stack.glue_port_file.is_file,
            "LocalStack": lambda: self.stack.localstack.health(timeout=0.2) is not None,
            "deployed": self.stack.env_file.is_file,
        }
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.is_set():
            for name, check in self.checks.items():
                if name not in self.seen and check():
                    self.seen[name] = time.monotonic() - self.started
            time.sleep(0.1)

    def stop(self) -> str:
        self.done.set()
        self.thread.join()
        order = sorted(self.seen.items(), key=lambda item: item[1])
        return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in order)


def timed_up(settings: LocalSettings) -> tuple[float, str]:
    started = time.monotonic()
    milestones = Milestones(settings, started)
    try:
        flightpipe(settings, "local", "up")
    finally:
        seen = milestones.stop()
    return time.monotonic() - started, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="flightpipe-up-"))
    settings = LocalSettings(stack_port=free_port(), postgres_port=free_port(), state_dir=state)
    times = []
    try:
        for run in range(1, args.runs + 1):
            seconds, seen = timed_up(settings)
            times.append(seconds)
            start = "empty state folder" if run == 1 else "after down"
            print(f"up {run} ({start}): {seconds:.1f}s  (answering: {seen})", flush=True)
            if run < args.runs:
                flightpipe(settings, "local", "down")
        started = time.monotonic()
        flightpipe(settings, "local", "up")
        print(f"up while up: {time.monotonic() - started:.1f}s")
        print(
            f"median up from nothing: {statistics.median(times):.1f}s over {len(times)} runs "
            "(target 10 s)"
        )
    finally:
        flightpipe(settings, "local", "down")
        LocalStack(settings).postgres.delete()  # and the directory it moved to, if it did
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
