"""``flightpipe postgres start|stop|status|run``: the local PostgreSQL standing in for Redshift."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

from flightpipe.devenv.postgres import DEFAULT_PORT, LocalPostgres, throwaway
from flightpipe.paths import LOCAL_DIR


def _cluster(port: int) -> LocalPostgres:
    return LocalPostgres(
        LOCAL_DIR / "postgres", port=port, log_path=LOCAL_DIR / "logs" / "postgres.log"
    )


def start(args: argparse.Namespace) -> int:
    print(_cluster(args.port).start())
    return 0


def stop(args: argparse.Namespace) -> int:
    stopped = _cluster(args.port).stop()
    print("stopped" if stopped else "not running")
    return 0


def status(args: argparse.Namespace) -> int:
    cluster = _cluster(args.port)
    pid = cluster.pid()
    print(f"running (pid {pid}) at {cluster.url}" if pid else "not running")
    return 0 if pid else 3


def run(args: argparse.Namespace) -> int:
    """Run a command with DATABASE_URL set: the caller's server, or a throwaway one (and then
    PGSSLROOTCERT, libpq's name for the file of the CA that issued its TLS certificate)."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("usage: flightpipe postgres run -- COMMAND [ARGS...]")
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(command)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = LOCAL_DIR / "tmp" / f"pg-{uuid.uuid4().hex[:8]}"
    with throwaway(root) as cluster:
        print(f"throwaway PostgreSQL at {cluster.url} (pid {cluster.pid()})", flush=True)
        tls = {"PGSSLROOTCERT": str(cluster.ca_cert)}
        return subprocess.call(command, env={**os.environ, "DATABASE_URL": cluster.url, **tls})


def register(commands: Any) -> None:
    postgres = commands.add_parser("postgres", help="the local PostgreSQL standing in for Redshift")
    actions = postgres.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("start", start, "start .local/postgres (idempotent); prints its URL"),
        ("stop", stop, "stop it by pid"),
        ("status", status, "say whether it runs"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--port", type=int, default=DEFAULT_PORT)
        action.set_defaults(handler=handler)
    wrapped = actions.add_parser(
        "run", help="run a command against a throwaway server (or DATABASE_URL's)"
    )
    wrapped.add_argument("command", nargs=argparse.REMAINDER)
    wrapped.set_defaults(handler=run)
