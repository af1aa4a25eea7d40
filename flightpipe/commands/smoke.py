"""``flightpipe smoke --stage STAGE`` (``make smoke``): one real upload through a deployed (or the
local) pipeline, reported.

Uploads the airports dimension when none is accepted yet, then a one-row day where production
uploads land; waits for the execution and reports its status or error, the run report, the
notification's subject and the handler-failures queue; exits non-zero if any of it is wrong. The
smoke day is a rehearsal, kept out of production data by the pipeline itself. Against AWS it
needs credentials that may put objects in the data bucket and read ``accepted/airports.csv``,
the stack, the executions and their history, and the run reports. It finds the pipeline from
the stack's outputs and a notification from the execution's SNS task, or, on ``local``, from
``.local/stack.env`` and the local alerts inbox. See docs/operations.md ("The smoke test"),
docs/decisions/smoke-test-rehearsal.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flightpipe.infra import executions
from flightpipe.infra import template as infra
from flightpipe.infra.executions import json_object, upload_execution_arn
from flightpipe.infra.stages import StageError, Targets, run_report, session_for, targets_for
from flightpipe.paths import REPO

_TEMPLATE = infra.load()
SMOKE_DAY: str = _TEMPLATE["Mappings"]["SmokeTest"]["Day"]["Value"]
SMOKE_KEY = f"daily_flights/date={SMOKE_DAY}/smoke.csv"
# Atlanta to New York JFK (BTS airport ids), 61 minutes late: one row past the threshold.
SMOKE_FILE = b"Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nZZ,10397,12478,61,58\n"
SMOKE_LABEL = "SMOKE TEST: "
# Where the airports job keeps the dimension it accepted, which every day's run joins.
_AIRPORTS_JOB_ARGUMENTS = _TEMPLATE["Resources"]["LoadAirportsJob"]["Properties"][
    "DefaultArguments"
]
AIRPORTS_KEY: str = _AIRPORTS_JOB_ARGUMENTS["--airports_key"]
ACCEPTED_AIRPORTS_KEY: str = _AIRPORTS_JOB_ARGUMENTS["--accepted_airports_key"]
SHIPPED_AIRPORTS = REPO / "sample_data" / "airports.csv"


# How long a published notification may take to reach the alerts inbox.
INBOX_SECONDS = 30.0


@dataclass
class Report:
    dimension: str = ""  # what the smoke test found of the airports dimension, or did about it
    execution: dict[str, Any] = field(default_factory=dict)
    run_report: dict[str, Any] = field(default_factory=dict)
    notified: bool = False
    notification: str | None = None  # its Subject, when read from the alerts inbox
    failures_waiting: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        status = self.execution.get("status", "NOT STARTED")
        found = [f"dimension  {self.dimension}"] if self.dimension else []
        found.append(f"execution  {self.execution.get('name', '-')}: {status}")
        if self.execution.get("error"):
            found.append(f"error      {self.execution['error']}: {self.execution.get('cause')}")
        if self.run_report:
            read, loaded = self.run_report.get("rows_read"), self.run_report.get("rows_loaded")
            kept = "rolled back" if self.run_report.get("rehearsal") else "KEPT"
            found.append(f"job run    {read} row read, {loaded} loaded, {kept}")
        subject = f": {self.notification}" if self.notification else ""
        found.append(f"notified   {'yes' if self.notified else 'no'}{subject}")
        if self.failures_waiting is not None:
            found.append(
                f"failures   {self.failures_waiting} event(s) in the handler-failures queue"
            )
        found += [f"PROBLEM    {problem}" for problem in self.problems]
        found.append("SMOKE TEST " + ("PASSED" if self.ok else "FAILED"))
        return found


def run(
    targets: Targets,
    client: Callable[[str], Any],
    timeout: float = 1800.0,
    airports: Path = SHIPPED_AIRPORTS,
) -> Report:
    """Load a dimension if none is accepted, upload the smoke day and check everything it should
    cause; ``client(service)`` makes the boto3 clients."""
    s3, sfn = client("s3"), client("stepfunctions")
    report = Report()
    if not _dimension_ready(s3, sfn, targets, airports, timeout, report):
        return report
    day = date.fromisoformat(SMOKE_DAY)
    execution = _upload_and_wait(s3, sfn, targets, SMOKE_KEY, SMOKE_FILE, day, timeout)
    if execution is None:
        report.problems.append(
            f"no execution for s3://{targets.data_bucket}/{SMOKE_KEY} within {timeout:.0f}s: "
            "check the upload rule, the handler's logs and the handler-failures queue"
        )
    else:
        report.execution = execution
        if execution["status"] != "SUCCEEDED":
            report.problems.append(f"the execution ended {execution['status']}")
        else:
            report.run_report = run_report(s3, targets.data_bucket, SMOKE_DAY, execution)
            if (report.run_report.get("rows_read"), report.run_report.get("rows_loaded")) != (1, 1):
                report.problems.append("the job did not read and load exactly the one row")
            if report.run_report.get("rehearsal") is not True:
                report.problems.append(
                    "the job kept the smoke row: its run was not a rehearsal (is the deployed "
                    "state machine older than this repository's?)"
                )
        if targets.alerts_queue_url:
            report.notification = _received(
                client("sqs"), targets.alerts_queue_url, execution["executionArn"]
            )
        else:
            report.notification = _published_subject(sfn, execution["executionArn"])
        report.notified = report.notification is not None
        if report.notification is None:
            report.problems.append("no notification reached the alerts inbox")
        elif not report.notification.startswith(SMOKE_LABEL):
            report.problems.append(f"the notification does not say {SMOKE_LABEL.strip()}")
    if targets.failures_queue_url:
        report.failures_waiting = _waiting(client("sqs"), targets.failures_queue_url)
        if report.failures_waiting:
            report.problems.append("events wait in the handler-failures queue")
    return report


def _dimension_ready(
    s3: Any, sfn: Any, targets: Targets, airports: Path, timeout: float, report: Report
) -> bool:
    """Whether an airports dimension is accepted; when none is, ``airports`` is uploaded to
    ``dim/airports.csv`` and its run waited for (a new stack's first smoke)."""
    accepted = f"s3://{targets.data_bucket}/{ACCEPTED_AIRPORTS_KEY}"
    try:
        s3.head_object(Bucket=targets.data_bucket, Key=ACCEPTED_AIRPORTS_KEY)
        report.dimension = f"accepted: {accepted}"
        return True
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    body = airports.read_bytes()
    execution = _upload_and_wait(s3, sfn, targets, AIRPORTS_KEY, body, None, timeout)
    status = execution["status"] if execution else "no execution"
    report.dimension = (
        f"none accepted: uploaded {airports} to s3://{targets.data_bucket}/{AIRPORTS_KEY}, "
        f"execution {execution['name'] if execution else '-'}: {status}"
    )
    if execution is None or status != "SUCCEEDED":
        report.problems.append(
            f"the airports dimension did not load ({status}); no day loads without one"
        )
        return False
    return True


def _upload_and_wait(
    s3: Any, sfn: Any, targets: Targets, key: str, body: bytes, day: date | None, timeout: float
) -> dict[str, Any] | None:
    """Put ``body`` at ``key`` and wait for the execution it starts to end; None if it did not
    within ``timeout``."""
    stored = s3.put_object(Bucket=targets.data_bucket, Key=key, Body=body)
    arn = upload_execution_arn(targets.state_machine_arn, targets.data_bucket, key, stored, day)
    return executions.wait(sfn, [arn], timeout, poll_seconds=2.0).get(arn)


def _published_subject(sfn: Any, execution_arn: str) -> str | None:
    """The Subject of the notice the execution published to SNS (its success or failure
    notice), from the SNS task's parameters in the execution's history; None if none was."""
    subject: str | None = None
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    for page in pages:
        for event in page["events"]:
            scheduled = event.get("taskScheduledEventDetails") or {}
            if event["type"] == "TaskScheduled" and scheduled.get("resourceType") == "sns":
                subject = str(json_object(scheduled.get("parameters")).get("Subject") or "")
            succeeded = event.get("taskSucceededEventDetails") or {}
            if event["type"] == "TaskSucceeded" and succeeded.get("resourceType") == "sns":
                return subject
    return None


def _received(
    sqs: Any, queue_url: str, execution_arn: str, timeout: float = INBOX_SECONDS
) -> str | None:
    """The Subject of the notification about ``execution_arn`` in the alerts inbox (which it
    removes from there), or None if none arrives within ``timeout``.

    The inbox holds every alert of the stack: the others are only looked at, each held out of
    sight while the queue is read past it, and then handed back as they were."""
    deadline = time.monotonic() + timeout
    held: list[str] = []
    found: str | None = None
    try:
        while found is None and time.monotonic() < deadline:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                VisibilityTimeout=max(int(timeout) + 30, 60),
            ).get("Messages", [])
            for message in messages:
                envelope = json_object(message["Body"])
                if found is None and json_object(envelope.get("Message")).get("execution") == (
                    execution_arn
                ):
                    found = str(envelope.get("Subject") or "")
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    held.append(message["ReceiptHandle"])
    finally:
        for handle in held:
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
    return found


def _waiting(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def command(args: argparse.Namespace) -> int:
    try:
        session = session_for(args.stage)
        targets = targets_for(args.stage, session)
    except StageError as error:
        print(f"smoke test: {error}", file=sys.stderr)
        return 1
    print(f"smoke test: s3://{targets.data_bucket}/{SMOKE_KEY} -> {targets.state_machine_arn}")
    report = run(targets, session.client, timeout=args.timeout, airports=args.airports)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "smoke", help="one real upload through a stage's pipeline, and what it caused"
    )
    parser.add_argument("--stage", required=True, help="dev, prod, or local")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait")
    parser.add_argument(
        "--airports",
        type=Path,
        default=SHIPPED_AIRPORTS,
        help="the dimension to load first when the stage has none accepted",
    )
    parser.set_defaults(handler=command)
