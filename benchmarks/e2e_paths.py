"""Benchmark: `make local-e2e` against `make compose-e2e`, the whole check on each path.

Runs ``flightpipe e2e`` (the Docker-free stack: start, the sample days, the check,
stop) and ``flightpipe e2e --compose`` (the compose stack, images built beforehand:
start, the same check, down) ``--runs`` times each, alternating, each in a state folder of its
own, and prints each wall time, the medians and their ratio (target: compose at most 1.5x).
Uses the stand-in images when ``make compose-standins`` recorded them in ``.local/``.

    .venv/bin/python benchmarks/e2e_paths.py --runs 3

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compose_stack import use_recorded_standins
from local_stack import yardstick_line

from flightpipe.devenv.postgres import free_port
from flightpipe.settings import LocalSettings

REPO = Path(__file__).resolve().parents[1]


def timed(compose: bool) -> float:
    """One e2e run's wall time in seconds; exits if it failed."""
    state = Path(tempfile.mkdtemp(prefix="e2e-bench-", dir=REPO / ".local" / "tmp"))
    env = {
        **os.environ,
        "FLIGHTPIPE_STATE_DIR": str(state),
        "FLIGHTPIPE_STACK_PORT": str(free_port()),
        "FLIGHTPIPE_POSTGRES_PORT": str(free_port()),
        "COMPOSE_PROJECT_NAME": f"flightpipe-bench-{state.name[-8:].lower()}",
    }
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "flightpipe", "e2e", *(["--compose"] if compose else [])]
    started = time.monotonic()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    shutil.rmtree(state, ignore_errors=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    (REPO / ".local" / "tmp").mkdir(parents=True, exist_ok=True)
    use_recorded_standins(LocalSettings(state_dir=REPO / ".local" / "tmp" / "e2e-bench"))
    times: dict[str, list[float]] = {"local-e2e": [], "compose-e2e": []}
    for run in range(args.runs):
        for name, compose in (("local-e2e", False), ("compose-e2e", True)):
            seconds = timed(compose)
            times[name].append(seconds)
            print(f"run {run + 1}: {name} {seconds:.1f} s", flush=True)
    local, compose = (statistics.median(times[n]) for n in ("local-e2e", "compose-e2e"))
    print(f"median local-e2e {local:.1f} s, compose-e2e {compose:.1f} s: {compose / local:.2f}x")
    print(yardstick_line())


if __name__ == "__main__":
    main()
