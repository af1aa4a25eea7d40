"""``flightpipe replay --date YYYY-MM-DD [--stage STAGE]``: reprocess a day from the objects
already in S3.

After a fault is gone (warehouse back, job fixed), a day is run again without re-uploading:
one execution per CSV object under ``daily_flights/date=<day>/``, started exactly as the upload
handler starts them (same input, through the handler's own code: keys it would ignore, such as
hidden ``_...`` names, start nothing), but under a new name: the failed run holds the name of
the object version (or ETag), and Step Functions would treat a second start under it as a
duplicate event. The failure notification names this command. Waits for the executions and
prints how they ended; exit status 0 only if all succeeded. ``flightpipe backfill`` starts
its days with the same functions.

For a deployed stage (``make replay STAGE=dev DATE=...``, as the failure notification of that
stage writes it) the bucket and state machine are the outputs of its stack ``flightpipe-<stage>``
in the account of the caller's credentials; for ``local`` (the default) DATA_BUCKET and
STATE_MACHINE_ARN from the environment, or from ``.local/stack.env`` when the local stack is up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from datetime import UTC, date, datetime
from typing import Any

import boto3

from flightpipe.infra import executions
from flightpipe.infra.executions import short_name
from flightpipe.infra.stages import STAGES, StageError, local_values
from flightpipe.shipped import reach_handler_code

reach_handler_code()
from chalicelib.pipeline import REPLAY_COMMAND, start_run  # noqa: E402  (the handler's own code)
from chalicelib.settings import AIRPORTS_KEY, FLIGHTS_PREFIX  # noqa: E402
from chalicelib.uploads import Ignored, Upload, parse_upload  # noqa: E402

__all__ = ["REPLAY_COMMAND", "Upload", "day_uploads", "replay", "run_stamp", "start_day"]

_AWS_SETTINGS = (
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
_FROM_ENVIRONMENT = ("DATA_BUCKET", "STATE_MACHINE_ARN", *_AWS_SETTINGS)


def _environment() -> dict[str, str]:
    values = {}
    if "STATE_MACHINE_ARN" not in os.environ:
        with contextlib.suppress(StageError):
            values = local_values()
    values.update({k: v for k, v in os.environ.items() if k in _FROM_ENVIRONMENT})
    missing = [k for k in ("DATA_BUCKET", "STATE_MACHINE_ARN") if not values.get(k)]
    if missing:
        raise SystemExit(f"replay needs {', '.join(missing)} (environment or .local/stack.env)")
    return values


def day_uploads(
    s3: Any, bucket: str, first: date, last: date, prefix: str = FLIGHTS_PREFIX
) -> dict[date, list[Upload]]:
    """The uploads of the days ``first`` to ``last`` (inclusive) that the upload handler would
    start a run for, by day, each day's oldest object first.

    One listing from the first day on, in S3's key order (which is date order under
    ``date=YYYY-MM-DD/``), stopped after the last day: a year's range costs a few requests,
    however many other days the bucket holds.
    """
    found: dict[date, list[tuple[datetime, str, Upload]]] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}date=", StartAfter=f"{prefix}date={first.isoformat()}"
    )
    for obj in (obj for page in pages for obj in page.get("Contents", [])):
        # Keys come sorted, so the ten characters after "date=" only grow.
        if obj["Key"][len(prefix) + len("date=") :][:10] > last.isoformat():
            break
        etag = obj["ETag"].strip('"')
        detail = {"bucket": {"name": bucket}, "object": {"key": obj["Key"], "etag": etag}}
        try:
            upload = parse_upload(detail, bucket, prefix, AIRPORTS_KEY)
        except Ignored:
            continue
        if upload.flight_date is not None and first <= upload.flight_date <= last:
            found.setdefault(upload.flight_date, []).append(
                (obj["LastModified"], obj["Key"], upload)
            )
    return {day: [u for *_, u in sorted(items)] for day, items in sorted(found.items())}


def run_stamp() -> str:
    """Part of the names of the executions one replay or backfill starts."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S")


def start_day(
    upload: Upload, machine: str, sfn: Any, *, label: str, stamp: str, index: int = 0
) -> str:
    """Start a run of ``upload``'s day with the handler's input for that object, under the new
    name ``<label>-<day>-<stamp>-<index>``; its execution ARN."""
    if upload.flight_date is None:
        raise ValueError(f"s3://{upload.bucket}/{upload.key} is not a day's upload")
    name = f"{label}-{upload.flight_date.isoformat()}-{stamp}-{index}"
    return start_run(upload, machine, sfn, name=name).execution_arn


def replay(day: date, prefix: str = FLIGHTS_PREFIX, wait: bool = True, stage: str = "local") -> int:
    if stage == "local":
        values = _environment()
        for key in _AWS_SETTINGS:
            if values.get(key):
                os.environ[key] = values[key]
        s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
        bucket, machine = values["DATA_BUCKET"], values["STATE_MACHINE_ARN"]
    else:
        from flightpipe.infra.stages import session_for, targets_for

        session = session_for(stage)
        targets = targets_for(stage, session)
        s3, sfn = session.client("s3"), session.client("stepfunctions")
        bucket, machine = targets.data_bucket, targets.state_machine_arn
    uploads = day_uploads(s3, bucket, day, day, prefix).get(day, [])
    if not uploads:
        print(
            f"nothing to replay: no .csv object the upload handler would take under "
            f"s3://{bucket}/{prefix}date={day.isoformat()}/"
        )
        return 1
    stamp = run_stamp()
    started = []
    for index, upload in enumerate(uploads):
        arn = start_day(upload, machine, sfn, label="replay", stamp=stamp, index=index)
        started.append(arn)
        print(f"started {short_name(arn)} for s3://{bucket}/{upload.key}")
    if not wait:
        return 0
    return _wait(sfn, started)


def _wait(sfn: Any, arns: list[str], timeout: float = 900.0) -> int:
    ended = executions.wait(sfn, arns, timeout)
    for arn in arns:
        described = ended.get(arn)
        status = described["status"] if described else "STILL RUNNING"
        detail = (
            f" {described.get('error')}: {described.get('cause')}"
            if described and status != "SUCCEEDED"
            else ""
        )
        print(f"{short_name(arn)}: {status}{detail}")
    succeeded = [arn for arn in arns if ended.get(arn, {}).get("status") == "SUCCEEDED"]
    return 0 if len(succeeded) == len(arns) else 1


def command(args: argparse.Namespace) -> int:
    try:
        return replay(args.date, wait=not args.no_wait, stage=args.stage)
    except StageError as error:
        print(f"replay: {error}", file=sys.stderr)
        return 1


def register(commands: Any) -> None:
    parser = commands.add_parser("replay", help="run a day again from its objects already in S3")
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--no-wait", action="store_true", help="start and return")
    parser.add_argument(
        "--stage",
        choices=STAGES,
        default="local",
        help="local (the stack of make local-up, the default) or a deployed stage",
    )
    parser.set_defaults(handler=command)
