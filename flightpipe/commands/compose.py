"""``flightpipe compose standins|up|down|shell|check-image``: the container path
(docker-compose.yml, job runs in AWS's Glue image)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flightpipe.commands.local import print_values, source_hint
from flightpipe.settings import LocalSettings


def standins(args: argparse.Namespace) -> int:
    from flightpipe.devenv import compose

    images = compose.standins(LocalSettings.from_env(), args.base_image, args.ca_bundle)
    print_values(images)
    return 0


def up(args: argparse.Namespace) -> int:
    from flightpipe.devenv import compose

    settings = LocalSettings.from_env()
    values = compose.up(settings)
    seconds = values.pop("SECONDS_TO_HEALTHY")
    print_values(values)
    print(
        f"# compose stack healthy and provisioned in {seconds}s; {source_hint(settings)}",
        file=sys.stderr,
    )
    return 0


def down(args: argparse.Namespace) -> int:
    from flightpipe.devenv import compose

    print("removed: " + ", ".join(compose.down(LocalSettings.from_env())))
    return 0


def shell(args: argparse.Namespace) -> int:
    from flightpipe.devenv import compose

    return compose.shell(LocalSettings.from_env())


def check_image(args: argparse.Namespace) -> int:
    from flightpipe.devenv import compose

    return compose.check_image(LocalSettings.from_env())


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "compose", help="the container path: docker-compose.yml, job runs in the Glue image"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    built = actions.add_parser(
        "standins", help="build stand-ins for images a machine cannot pull (Debian, PyPI only)"
    )
    built.add_argument(
        "--base-image", help="a Debian bookworm image to build on (default: debootstrap one)"
    )
    built.add_argument(
        "--ca-bundle", type=Path, help="CA bundle for pip inside builds (a proxy re-signing HTTPS)"
    )
    built.set_defaults(handler=standins)
    for name, handler, text in (
        ("up", up, "build, start, wait until provisioned, write .local/stack.env"),
        ("down", down, "remove job containers, containers, network and volumes"),
        ("shell", shell, "a shell in the Glue image with a job run's environment"),
        (
            "check-image",
            check_image,
            "the Glue image's facts, and a probe job's verdict per step against the stack",
        ),
    ):
        actions.add_parser(name, help=text).set_defaults(handler=handler)
