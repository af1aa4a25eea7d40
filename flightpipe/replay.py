"""``flightpipe replay --date YYYY-MM-DD``: reprocess a day from the objects already in S3.

After a fault is gone (warehouse back, job fixed), a day is run again without re-uploading:
one execution per CSV object under ``daily_flights/date=<day>/``, started exactly as the upload
handler starts them (same input, through the handler's own code), but under a new name: the
failed run holds the name of the object version (or ETag), and Step Functions would treat a
second start under it as a duplicate event. The failure notification names this command. Waits
for the executions and prints how they ended; exit status 0 only if all succeeded.

Reads DATA_BUCKET and STATE_MACHINE_ARN from the environment, or from ``.local/stack.env``
when the local stack is up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

import boto3

from flightpipe.config import LOCAL_DIR, REPO

if str(REPO / "chalice_app") not in sys.path:
    sys.path.insert(0, str(REPO / "chalice_app"))
from chalicelib.pipeline import start_run
from chalicelib.uploads import Upload

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _environment() -> dict[str, str]:
    values = {}
    env_file = LOCAL_DIR / "stack.env"
    if env_file.exists() and "STATE_MACHINE_ARN" not in os.environ:
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value
    values.update(
        {
            k: v
            for k, v in os.environ.items()
            if k
            in (
                "DATA_BUCKET",
                "STATE_MACHINE_ARN",
                "AWS_ENDPOINT_URL",
                "AWS_DEFAULT_REGION",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            )
        }
    )
    missing = [k for k in ("DATA_BUCKET", "STATE_MACHINE_ARN") if not values.get(k)]
    if missing:
        raise SystemExit(f"replay needs {', '.join(missing)} (environment or .local/stack.env)")
    return values


def replay(day: date, prefix: str = "daily_flights/", wait: bool = True) -> int:
    values = _environment()
    for key in (
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        if values.get(key):
            os.environ[key] = values[key]
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    bucket, machine = values["DATA_BUCKET"], values["STATE_MACHINE_ARN"]
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}date={day.isoformat()}/")
    objects = [o for o in listing.get("Contents", []) if o["Key"].lower().endswith(".csv")]
    if not objects:
        print(
            f"nothing to replay: no .csv object under s3://{bucket}/{prefix}date={day.isoformat()}/"
        )
        return 1
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    started = []
    for index, obj in enumerate(objects):
        upload = Upload("day", bucket, obj["Key"], obj["ETag"].strip('"'), day)
        name = f"replay-{day.isoformat()}-{stamp}-{index}"
        started.append(start_run(upload, machine, sfn, name=name).execution_arn)
        print(f"started {name} for s3://{bucket}/{obj['Key']}")
    if not wait:
        return 0
    return _wait(sfn, started)


def _wait(sfn: object, arns: list[str], timeout: float = 900.0) -> int:
    deadline = time.monotonic() + timeout
    outcome: dict[str, dict] = {}
    while len(outcome) < len(arns) and time.monotonic() < deadline:
        for arn in arns:
            if arn not in outcome:
                described = sfn.describe_execution(executionArn=arn)  # type: ignore[attr-defined]
                if described["status"] in TERMINAL:
                    outcome[arn] = described
        time.sleep(1)
    for arn in arns:
        described = outcome.get(arn)
        status = described["status"] if described else "STILL RUNNING"
        detail = (
            f" {described.get('error')}: {described.get('cause')}"
            if described and status != "SUCCEEDED"
            else ""
        )
        print(f"{arn.rsplit(':', 1)[-1]}: {status}{detail}")
    return (
        0
        if all(o["status"] == "SUCCEEDED" for o in outcome.values()) and len(outcome) == len(arns)
        else 1
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flightpipe replay", description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--no-wait", action="store_true", help="start and return")
    args = parser.parse_args(argv)
    return replay(args.date, wait=not args.no_wait)


if __name__ == "__main__":
    raise SystemExit(main())
