"""``flightpipe local up|down|status``: the Docker-free local stack (LocalStack, the Glue
service, PostgreSQL) with the pipeline deployed on it."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from flightpipe.settings import LocalSettings


def up(args: argparse.Namespace) -> int:
    from flightpipe.stack.local import up as start

    settings = LocalSettings.from_env()
    values = start(settings)
    seconds = values.pop("SECONDS_TO_HEALTHY")
    print_values(values)
    print(f"# healthy and deployed in {seconds}s; {source_hint(settings)}", file=sys.stderr)
    return 0


def down(args: argparse.Namespace) -> int:
    from flightpipe.stack.local import down as stop

    stopped = stop(LocalSettings.from_env())
    print("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0


def status(args: argparse.Namespace) -> int:
    from flightpipe.stack.local import LocalStack

    stack = LocalStack(LocalSettings.from_env())
    health = stack.health()
    report = {
        "localstack": health or "down",
        "localstack_pid": stack.pid(),
        "postgres_pid": stack.postgres.pid(),
    }
    print(json.dumps(report, indent=2, default=str))
    return 0 if health else 3


def print_values(values: dict[str, Any]) -> None:
    """A started stack's settings, as the lines of its ``stack.env``."""
    for key, value in values.items():
        print(f"{key}={value}")


def source_hint(settings: LocalSettings) -> str:
    """How to point a shell at the stack: its stack.env, as a path the reader can paste."""
    env_file = settings.state_dir / "stack.env"
    try:
        shown = env_file.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = env_file
    return f"set -a; . {shlex.quote(str(shown))}; set +a"


def register(commands: Any) -> None:
    local = commands.add_parser("local", help="the local stack (LocalStack) and PostgreSQL")
    actions = local.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        (
            "up",
            up,
            "start PostgreSQL, the Glue service and LocalStack, deploy the pipeline, write "
            ".local/stack.env",
        ),
        ("down", down, "stop what 'up' started, by pid"),
        ("status", status, "LocalStack's health (the Glue service's under flightpipe), pids"),
    ):
        actions.add_parser(name, help=text).set_defaults(handler=handler)
