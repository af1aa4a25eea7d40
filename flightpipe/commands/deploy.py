"""The commands around ``make deploy`` and ``chalice deploy``: ``flightpipe parameters``,
``flightpipe preflight``, ``flightpipe chalice-config`` and ``flightpipe job-archive``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from flightpipe.paths import CHALICE_DIR
from flightpipe.settings import DEFAULT_REGION


def parameters(args: argparse.Namespace) -> int:
    from flightpipe.infra import parameters

    try:
        from_file = parameters.read_file(args.file) if args.file else None
        values = parameters.overrides(args.assignments, from_file)
    except parameters.ParameterError as error:
        print(f"flightpipe parameters: {error}", file=sys.stderr)
        return 2
    parameters.write_overrides(values, args.out)
    return 0


def preflight(args: argparse.Namespace) -> int:
    from flightpipe.infra import parameters, preflight
    from flightpipe.infra.stages import session_for

    try:
        from_file = parameters.read_file(args.file) if args.file else None
        values = parameters.overrides([f"Stage={args.stage}", *args.assignments], from_file)
    except parameters.ParameterError as error:
        print(f"flightpipe preflight: {error}", file=sys.stderr)
        return 2
    session = session_for(args.stage)
    region = session.region_name or DEFAULT_REGION
    print(f"preflight of flightpipe-{args.stage} in {region}")
    checks = preflight.run(values, args.artifact_bucket or "", region, session.client)
    print("\n".join(preflight.report(checks)))
    return 1 if any(check.verdict == preflight.FAIL for check in checks) else 0


def chalice_config(args: argparse.Namespace) -> int:
    from flightpipe.infra import chalice_config
    from flightpipe.infra.stages import session_for, stack_outputs

    outputs = stack_outputs(args.stage, session_for(args.stage))
    path = chalice_config.configure(args.stage, outputs, args.project_dir)
    print(f"{path}: stage {args.stage} from the outputs of flightpipe-{args.stage}")
    print(f"then, in {args.project_dir}: chalice deploy --stage {args.stage}")
    return 0


def job_archive(args: argparse.Namespace) -> int:
    from flightpipe.infra import job_archive

    print(job_archive.build(args.out))
    return 0


def register(commands: Any) -> None:
    overrides = commands.add_parser(
        "parameters",
        help="write make deploy's parameter overrides to a file (no value through a shell)",
    )
    overrides.add_argument("--out", type=Path, required=True)
    overrides.add_argument("--file", type=Path, help="parameters in CloudFormation's format")
    overrides.add_argument("assignments", nargs="*", metavar="Key=Value")
    overrides.set_defaults(handler=parameters)

    check = commands.add_parser(
        "preflight",
        help="check by API, before make deploy, what a deployment with these parameters needs",
    )
    check.add_argument("--stage", required=True, help="dev, prod, or local")
    check.add_argument("--artifact-bucket", help="make deploy's ARTIFACT_BUCKET")
    check.add_argument("--file", type=Path, help="parameters in CloudFormation's format")
    check.add_argument("assignments", nargs="*", metavar="Key=Value")
    check.set_defaults(handler=preflight)

    handlers = commands.add_parser(
        "chalice-config",
        help="write a stage's handler roles and environment into .chalice/config.json from its "
        "stack's outputs, for chalice deploy --stage <stage>",
    )
    handlers.add_argument("--stage", required=True, help="dev, prod, or local")
    handlers.add_argument("--project-dir", type=Path, default=CHALICE_DIR)
    handlers.set_defaults(handler=chalice_config)

    archive = commands.add_parser(
        "job-archive", help="build the Glue jobs' package, flightjob.zip, for make deploy"
    )
    archive.add_argument("--out", type=Path, required=True, help="the folder to write it in")
    archive.set_defaults(handler=job_archive)
