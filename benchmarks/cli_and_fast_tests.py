"""Benchmark: the quick loop of a person editing: ``make test-fast`` and a command's start.

Times, ``--runs`` times each: the unit tests that need no Spark (``pytest -m "unit and not
spark"``, what ``make test-fast`` runs; the target is under a minute), and ``flightpipe
postgres status``, ``flightpipe generate --help`` and ``flightpipe --help`` (the CLI imports
only the command asked for; ``--help`` imports every command's module). Prints each time and
the medians.

    .venv/bin/python benchmarks/cli_and_fast_tests.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from flightpipe.paths import REPO

BIN = Path(sys.executable).parent
COMMANDS = {
    "make test-fast": [
        str(BIN / "python"),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "unit and not spark",
    ],
    "flightpipe postgres status": [str(BIN / "flightpipe"), "postgres", "status"],
    "flightpipe generate --help": [str(BIN / "flightpipe"), "generate", "--help"],
    "flightpipe --help": [str(BIN / "flightpipe"), "--help"],
}


def timed(command: list[str]) -> tuple[float, int]:
    """The wall time of ``command`` and its exit status (``postgres status`` says 3 when no
    server runs; the tests, 0 when they passed)."""
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, check=False)
    return time.monotonic() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for name, command in COMMANDS.items():
        runs = [timed(command) for _ in range(args.runs)]
        shown = ", ".join(f"{seconds:.2f}s (exit {status})" for seconds, status in runs)
        median = statistics.median(seconds for seconds, _ in runs)
        print(f"{name}: {shown}; median {median:.2f}s", flush=True)


if __name__ == "__main__":
    main()
