"""``flightpipe``: the project's command line (local PostgreSQL, schema, local Glue job runs,
the local stack, backfills).

``make`` targets call these; they are also for a data engineer at a shell.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from flightpipe.postgres import DEFAULT_PORT, LocalPostgres, PostgresError, throwaway

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / ".local"


def _cluster(port: int) -> LocalPostgres:
    return LocalPostgres(LOCAL / "postgres", port=port, log_path=LOCAL / "logs" / "postgres.log")


def cmd_postgres_start(args: argparse.Namespace) -> int:
    print(_cluster(args.port).start())
    return 0


def cmd_postgres_stop(args: argparse.Namespace) -> int:
    stopped = _cluster(args.port).stop()
    print("stopped" if stopped else "not running")
    return 0


def cmd_postgres_status(args: argparse.Namespace) -> int:
    cluster = _cluster(args.port)
    pid = cluster.pid()
    print(f"running (pid {pid}) at {cluster.url}" if pid else "not running")
    return 0 if pid else 3


def cmd_postgres_run(args: argparse.Namespace) -> int:
    """Run a command with DATABASE_URL set: the caller's server, or a throwaway one (and then
    PGSSLROOTCERT, libpq's name for the file of the CA that issued its TLS certificate)."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("usage: flightpipe postgres run -- COMMAND [ARGS...]")
    if os.environ.get("DATABASE_URL"):
        return subprocess.call(command)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = LOCAL / "tmp" / f"pg-{uuid.uuid4().hex[:8]}"
    with throwaway(root) as cluster:
        print(f"throwaway PostgreSQL at {cluster.url} (pid {cluster.pid()})", flush=True)
        tls = {"PGSSLROOTCERT": str(cluster.ca_cert)}
        return subprocess.call(command, env={**os.environ, "DATABASE_URL": cluster.url, **tls})


def cmd_schema_apply(args: argparse.Namespace) -> int:
    from flightpipe.warehouse import warehouse_from_url

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("schema apply needs --database-url or DATABASE_URL")
    for name in warehouse_from_url(url).apply_schema():
        print(f"applied {name}")
    return 0


def cmd_glue_run(args: argparse.Namespace) -> int:
    from flightpipe.gluelocal.runner import main as run_main

    return run_main([str(args.script), *args.job_args])


def cmd_parameters(args: argparse.Namespace) -> int:
    from flightpipe import parameters

    try:
        from_file = parameters.read_file(args.file) if args.file else None
        values = parameters.overrides(args.assignments, from_file)
    except parameters.ParameterError as error:
        print(f"flightpipe parameters: {error}", file=sys.stderr)
        return 2
    parameters.write_overrides(values, args.out)
    return 0


def cmd_preflight(args: argparse.Namespace) -> int:
    from flightpipe import parameters, preflight
    from flightpipe.stage import session_for

    try:
        from_file = parameters.read_file(args.file) if args.file else None
        values = parameters.overrides([f"Stage={args.stage}", *args.assignments], from_file)
    except parameters.ParameterError as error:
        print(f"flightpipe preflight: {error}", file=sys.stderr)
        return 2
    session = session_for(args.stage)
    region = session.region_name or "us-east-1"
    print(f"preflight of flightpipe-{args.stage} in {region}")
    checks = preflight.run(values, args.artifact_bucket or "", region, session.client)
    print("\n".join(preflight.report(checks)))
    return 1 if any(check.verdict == preflight.FAIL for check in checks) else 0


def cmd_chalice_config(args: argparse.Namespace) -> int:
    from flightpipe import chalice_config
    from flightpipe.stage import session_for, stack_outputs

    outputs = stack_outputs(args.stage, session_for(args.stage))
    path = chalice_config.configure(args.stage, outputs, args.project_dir)
    print(f"{path}: stage {args.stage} from the outputs of flightpipe-{args.stage}")
    print(f"then, in {args.project_dir}: chalice deploy --stage {args.stage}")
    return 0


def cmd_local_up(args: argparse.Namespace) -> int:
    from flightpipe.config import LocalSettings
    from flightpipe.stack.local import up

    settings = LocalSettings.from_env()
    values = up(settings)
    seconds = values.pop("SECONDS_TO_HEALTHY")
    for key, value in values.items():
        print(f"{key}={value}")
    print(f"# healthy and deployed in {seconds}s; {_source_hint(settings)}", file=sys.stderr)
    return 0


def _source_hint(settings: Any) -> str:
    """How to point a shell at the stack: its stack.env, as a path the reader can paste."""
    env_file = settings.state_dir / "stack.env"
    try:
        shown = env_file.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = env_file
    return f"set -a; . {shlex.quote(str(shown))}; set +a"


def cmd_local_down(args: argparse.Namespace) -> int:
    from flightpipe.config import LocalSettings
    from flightpipe.stack.local import down

    stopped = down(LocalSettings.from_env())
    print("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0


def cmd_local_status(args: argparse.Namespace) -> int:
    import json

    from flightpipe.config import LocalSettings
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


def cmd_compose_standins(args: argparse.Namespace) -> int:
    from flightpipe import compose
    from flightpipe.config import LocalSettings

    images = compose.standins(LocalSettings.from_env(), args.base_image, args.ca_bundle)
    for key, value in images.items():
        print(f"{key}={value}")
    return 0


def cmd_compose_up(args: argparse.Namespace) -> int:
    from flightpipe import compose
    from flightpipe.config import LocalSettings

    settings = LocalSettings.from_env()
    values = compose.up(settings)
    seconds = values.pop("SECONDS_TO_HEALTHY")
    for key, value in values.items():
        print(f"{key}={value}")
    print(
        f"# compose stack healthy and provisioned in {seconds}s; {_source_hint(settings)}",
        file=sys.stderr,
    )
    return 0


def cmd_compose_down(args: argparse.Namespace) -> int:
    from flightpipe import compose
    from flightpipe.config import LocalSettings

    print("removed: " + ", ".join(compose.down(LocalSettings.from_env())))
    return 0


def cmd_compose_shell(args: argparse.Namespace) -> int:
    from flightpipe import compose
    from flightpipe.config import LocalSettings

    return compose.shell(LocalSettings.from_env())


def cmd_compose_check_image(args: argparse.Namespace) -> int:
    from flightpipe import compose
    from flightpipe.config import LocalSettings

    return compose.check_image(LocalSettings.from_env())


def cmd_status(args: argparse.Namespace) -> int:
    from flightpipe import status
    from flightpipe.config import LocalSettings

    return status.status(LocalSettings.from_env(), args.json)


def cmd_runs(args: argparse.Namespace) -> int:
    from flightpipe import status
    from flightpipe.config import LocalSettings

    return status.runs(LocalSettings.from_env(), args.date.isoformat())


def cmd_logs(args: argparse.Namespace) -> int:
    from flightpipe import status
    from flightpipe.config import LocalSettings

    return status.logs(LocalSettings.from_env(), args.id)


def cmd_backfill(args: argparse.Namespace) -> int:
    from flightpipe.backfill import command

    return command(args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="flightpipe", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    postgres = commands.add_parser("postgres", help="the local PostgreSQL standing in for Redshift")
    actions = postgres.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("start", cmd_postgres_start, "start .local/postgres (idempotent); prints its URL"),
        ("stop", cmd_postgres_stop, "stop it by pid"),
        ("status", cmd_postgres_status, "say whether it runs"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--port", type=int, default=DEFAULT_PORT)
        action.set_defaults(handler=handler)
    run = actions.add_parser(
        "run", help="run a command against a throwaway server (or DATABASE_URL's)"
    )
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(handler=cmd_postgres_run)

    schema = commands.add_parser("schema", help="the warehouse DDL in sql/")
    schema_actions = schema.add_subparsers(dest="action", required=True)
    apply = schema_actions.add_parser("apply", help="apply sql/ (Redshift or PostgreSQL by URL)")
    apply.add_argument("--database-url")
    apply.set_defaults(handler=cmd_schema_apply)

    local = commands.add_parser("local", help="the local stack (LocalStack) and PostgreSQL")
    local_actions = local.add_subparsers(dest="action", required=True)
    for name, handler, text in (
        (
            "up",
            cmd_local_up,
            "start PostgreSQL, the Glue service and LocalStack, deploy the pipeline, write "
            ".local/stack.env",
        ),
        ("down", cmd_local_down, "stop what 'up' started, by pid"),
        (
            "status",
            cmd_local_status,
            "LocalStack's health (the Glue service's under flightpipe), pids",
        ),
    ):
        local_actions.add_parser(name, help=text).set_defaults(handler=handler)

    status_parser = commands.add_parser(
        "status", help="each day's last run: status, rows, duration, the failure's state and error"
    )
    status_parser.add_argument("--json", action="store_true", help="rows as JSON")
    status_parser.set_defaults(handler=cmd_status)
    runs_parser = commands.add_parser(
        "runs", help="every execution of a day with its path through the state machine"
    )
    runs_parser.add_argument("--date", required=True, type=date.fromisoformat)
    runs_parser.set_defaults(handler=cmd_runs)
    logs_parser = commands.add_parser(
        "logs", help="a job run's log (jr_...), or the job logs of an execution (name or ARN)"
    )
    logs_parser.add_argument("id")
    logs_parser.set_defaults(handler=cmd_logs)

    compose_parser = commands.add_parser(
        "compose", help="the container path: docker-compose.yml, job runs in the Glue image"
    )
    compose_actions = compose_parser.add_subparsers(dest="action", required=True)
    standins = compose_actions.add_parser(
        "standins", help="build stand-ins for images a machine cannot pull (Debian, PyPI only)"
    )
    standins.add_argument(
        "--base-image", help="a Debian bookworm image to build on (default: debootstrap one)"
    )
    standins.add_argument(
        "--ca-bundle", type=Path, help="CA bundle for pip inside builds (a proxy re-signing HTTPS)"
    )
    standins.set_defaults(handler=cmd_compose_standins)
    for name, handler, text in (
        ("up", cmd_compose_up, "build, start, wait until provisioned, write .local/stack.env"),
        ("down", cmd_compose_down, "remove job containers, containers, network and volumes"),
        ("shell", cmd_compose_shell, "a shell in the Glue image with a job run's environment"),
        (
            "check-image",
            cmd_compose_check_image,
            "the Glue image's facts, and a probe job's verdict per step against the stack",
        ),
    ):
        compose_actions.add_parser(name, help=text).set_defaults(handler=handler)

    glue = commands.add_parser("glue", help="the local Glue runtime")
    glue_actions = glue.add_subparsers(dest="action", required=True)
    glue_run = glue_actions.add_parser("run", help="run a Glue job script locally")
    glue_run.add_argument("script", type=Path)
    glue_run.add_argument("job_args", nargs=argparse.REMAINDER)
    glue_run.set_defaults(handler=cmd_glue_run)

    overrides = commands.add_parser(
        "parameters",
        help="write make deploy's parameter overrides to a file (no value through a shell)",
    )
    overrides.add_argument("--out", type=Path, required=True)
    overrides.add_argument("--file", type=Path, help="parameters in CloudFormation's format")
    overrides.add_argument("assignments", nargs="*", metavar="Key=Value")
    overrides.set_defaults(handler=cmd_parameters)

    check = commands.add_parser(
        "preflight",
        help="check by API, before make deploy, what a deployment with these parameters needs",
    )
    check.add_argument("--stage", required=True, help="dev, prod, or local")
    check.add_argument("--artifact-bucket", help="make deploy's ARTIFACT_BUCKET")
    check.add_argument("--file", type=Path, help="parameters in CloudFormation's format")
    check.add_argument("assignments", nargs="*", metavar="Key=Value")
    check.set_defaults(handler=cmd_preflight)

    from flightpipe.chalice_config import PROJECT_DIR

    handlers = commands.add_parser(
        "chalice-config",
        help="write a stage's handler roles and environment into .chalice/config.json from its "
        "stack's outputs, for chalice deploy --stage <stage>",
    )
    handlers.add_argument("--stage", required=True, help="dev, prod, or local")
    handlers.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    handlers.set_defaults(handler=cmd_chalice_config)

    from flightpipe.backfill import add_arguments

    backfill = commands.add_parser(
        "backfill", help="reprocess a range of days from the objects already in S3"
    )
    add_arguments(backfill)
    backfill.set_defaults(handler=cmd_backfill)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (PostgresError, RuntimeError) as error:
        print(f"flightpipe: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
