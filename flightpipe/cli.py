"""``flightpipe <command>``: the project's one command line, for a person at a shell and for the
Makefile's targets.

Each command is registered by a module of ``flightpipe.commands`` (``register`` adds its parser
and the handler that runs it). Only the module of the command asked for is imported, so that a
quick command does not pay for a slow one's imports; ``--help`` imports them all. Nothing else
imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

DESCRIPTION = "The flightpipe pipeline's command line: the local stack, checks, runs, deploys."
# Each command, in the order ``flightpipe --help`` lists them, and its module in
# flightpipe.commands.
COMMANDS = {
    "postgres": "postgres",
    "schema": "schema",
    "local": "local",
    "compose": "compose",
    "glue": "glue",
    "status": "status",
    "runs": "status",
    "logs": "status",
    "e2e": "e2e",
    "smoke": "smoke",
    "replay": "replay",
    "backfill": "backfill",
    "parameters": "deploy",
    "preflight": "deploy",
    "chalice-config": "deploy",
    "job-archive": "deploy",
    "generate": "generate",
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone."""
    top = argparse.ArgumentParser(prog="flightpipe", description=DESCRIPTION)
    commands = top.add_subparsers(dest="command", required=True, metavar="<command>")
    modules = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for module in dict.fromkeys(modules):
        importlib.import_module(f"flightpipe.commands.{module}").register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(argv[0] if argv else None).parse_args(argv)
    try:
        return int(args.handler(args))
    except RuntimeError as error:  # the commands' own errors (PostgresError, StageError, ...)
        print(f"flightpipe: {error}", file=sys.stderr)
        return 1
