"""``make smoke STAGE=...``: one real upload through a deployed (or the local) pipeline, reported.

For the first deployment, and after every one: uploads a one-row day (a flight 61 minutes late)
to ``daily_flights/date=1900-01-01/smoke.csv`` exactly where production uploads land, waits
for the execution the upload starts, and reports what a person would check by hand: the
execution's status (or its error and cause), the job's run report (one row read, one loaded),
whether the notification was sent, and whether the handler-failures queue holds anything. Exits
non-zero if any of it is wrong.

The day 1900-01-01 is the smoke test's own: each run replaces it with the same single row.
Against AWS it needs credentials that may put objects in the data bucket and read the stack,
the executions and the run reports; it finds them from the stack's outputs
(``flightpipe-<stage>``), and a notification is one its SNS task published (the email is for a
person to read). ``STAGE=local`` reads the outputs of the stack ``make local-up`` deployed to
LocalStack (``.local/stack.env`` says where), and a notification is one that reached the
local alerts inbox, the queue subscribed to the alerts topic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flightpipe.stage import TERMINAL, StageError, Targets, run_report, session_for, targets_for

SMOKE_DAY = "1900-01-01"
SMOKE_KEY = f"daily_flights/date={SMOKE_DAY}/smoke.csv"
SMOKE_FILE = b"Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nZZ,10397,12478,61,58\n"


# How long a published notification may take to reach the alerts inbox.
INBOX_SECONDS = 30.0


@dataclass
class Report:
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
        found = [f"execution  {self.execution.get('name', '-')}: {status}"]
        if self.execution.get("error"):
            found.append(f"error      {self.execution['error']}: {self.execution.get('cause')}")
        if self.run_report:
            read, loaded = self.run_report.get("rows_read"), self.run_report.get("rows_loaded")
            found.append(f"job run    {read} row read, {loaded} loaded")
        subject = f": {self.notification}" if self.notification else ""
        found.append(f"notified   {'yes' if self.notified else 'no'}{subject}")
        if self.failures_waiting is not None:
            found.append(
                f"failures   {self.failures_waiting} event(s) in the handler-failures queue"
            )
        found += [f"PROBLEM    {problem}" for problem in self.problems]
        found.append("SMOKE TEST " + ("PASSED" if self.ok else "FAILED"))
        return found


def run(targets: Targets, client: Callable[[str], Any], timeout: float = 1800.0) -> Report:
    """Upload the smoke day and check everything it should cause; ``client(service)`` makes
    the boto3 clients."""
    s3, sfn = client("s3"), client("stepfunctions")
    report = Report()
    # A minute's slack for clocks; the execution is then told by the object version it names.
    uploaded_at = datetime.now(UTC) - timedelta(seconds=60)
    put = s3.put_object(Bucket=targets.data_bucket, Key=SMOKE_KEY, Body=SMOKE_FILE)
    upload = {"key": SMOKE_KEY, "version_id": put.get("VersionId"), "etag": put["ETag"].strip('"')}
    execution = _wait_for_execution(sfn, targets.state_machine_arn, uploaded_at, upload, timeout)
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
        if targets.alerts_queue_url:
            report.notification = _received(
                client("sqs"), targets.alerts_queue_url, execution["executionArn"]
            )
            report.notified = report.notification is not None
            if not report.notified:
                report.problems.append("no notification reached the alerts inbox")
        else:
            report.notified = _notified(sfn, execution["executionArn"])
            if not report.notified:
                report.problems.append("no notification was published")
    if targets.failures_queue_url:
        report.failures_waiting = _waiting(client("sqs"), targets.failures_queue_url)
        if report.failures_waiting:
            report.problems.append("events wait in the handler-failures queue")
    return report


def _wait_for_execution(
    sfn: Any, machine: str, since: datetime, upload: dict[str, Any], timeout: float
) -> dict[str, Any] | None:
    """The ended execution started by ``upload``: its key and object version (or, in a bucket
    that is not versioned, its ETag)."""
    identity = "version_id" if upload["version_id"] not in (None, "null") else "etag"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in sfn.list_executions(stateMachineArn=machine, maxResults=50)["executions"]:
            if _as_utc(item["startDate"]) < since:
                continue
            described = sfn.describe_execution(executionArn=item["executionArn"])
            started_with = json.loads(described.get("input") or "{}")
            if started_with.get("key") != upload["key"]:
                continue
            if started_with.get(identity) != upload[identity]:
                continue
            if described["status"] in TERMINAL:
                return dict(described)
        time.sleep(2.0)
    return None


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _notified(sfn: Any, execution_arn: str) -> bool:
    """Whether a publish to SNS succeeded in the execution (its success or failure notice)."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    for page in pages:
        for event in page["events"]:
            succeeded = event.get("taskSucceededEventDetails") or {}
            if event["type"] == "TaskSucceeded" and succeeded.get("resourceType") == "sns":
                return True
    return False


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
                envelope = _json_object(message["Body"])
                if found is None and _json_object(envelope.get("Message")).get("execution") == (
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


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _waiting(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="dev, prod, or local")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait")
    args = parser.parse_args(argv)
    try:
        session = session_for(args.stage)
        targets = targets_for(args.stage, session)
    except StageError as error:
        print(f"smoke test: {error}", file=sys.stderr)
        return 1
    print(f"smoke test: s3://{targets.data_bucket}/{SMOKE_KEY} -> {targets.state_machine_arn}")
    report = run(targets, session.client, timeout=args.timeout)
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
