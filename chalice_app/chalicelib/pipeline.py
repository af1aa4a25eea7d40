"""Starting pipeline runs and sending alerts: small boto3 wrappers with the pipeline's outcomes.

Clients can be passed in (tests use a moto-backed or a local-stack client); otherwise one client
per service is made at first use and kept for the execution environment's life, as AWS's
Lambda best practices advise ("Initialize SDK clients ... outside of the function handler":
later invocations of a warm environment reuse it). No endpoint URL appears here: boto3 reads
``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

from chalicelib.uploads import Upload

log = logging.getLogger("flightpipe.handlers")

# Our state machine ends every failure it catches in this Fail state, after it has published
# the failure notification itself.
NOTIFIED_FAILURE_ERROR = "PipelineFailed"
# How a person reruns a day of a stage (the state machine's failure notice says the same).
REPLAY_COMMAND = "make replay STAGE={stage} DATE={day}"
# SNS refuses a Subject of 100 characters or more (Publish API reference: "less than 100").
SUBJECT_MAX = 99


@functools.cache
def client(service: str) -> Any:
    """One client per service for the execution environment's life (see above)."""
    return boto3.client(service)


def stored_key(detail: dict[str, Any], s3: Any = None) -> dict[str, Any]:
    """``detail`` with its object key as S3 stores the object.

    AWS does not say whether S3's EventBridge events URL-encode the key (their documented
    samples have plain keys only, "EventBridge event message structure"); S3's classic
    notifications do ("red flower.jpg" arrives as "red+flower.jpg", "Event message structure").
    A key that decodes to itself is the same either way and is taken as it is,
    without a call. Otherwise the form, as carried or decoded, whose object has the event's ETag
    is taken (HeadObject), and when neither is found the key as carried, which the run then
    names in its error."""
    obj = detail.get("object", {})
    key, etag = str(obj.get("key", "")), str(obj.get("etag", ""))
    decoded = unquote_plus(key)
    if decoded == key:
        return detail
    s3 = s3 or client("s3")
    bucket = str(detail.get("bucket", {}).get("name", ""))
    for candidate in (key, decoded):
        try:
            found = s3.head_object(Bucket=bucket, Key=candidate)
        except ClientError:  # missing (404), or not ours to read (403)
            continue
        if str(found.get("ETag", "")).strip('"') == etag:
            if candidate != key:
                log.info("s3://%s/%s: the event's key was URL-encoded (%s)", bucket, decoded, key)
            return {**detail, "object": {**obj, "key": candidate}}
    log.warning(
        "s3://%s/%s: no object with the event's ETag %s as carried or decoded", bucket, key, etag
    )
    return detail


@dataclass(frozen=True)
class Started:
    execution_arn: str
    already_running: bool


def start_run(
    upload: Upload, state_machine_arn: str, sfn: Any = None, name: str | None = None
) -> Started:
    """Start the execution for ``upload``; a duplicate event finds it already started.

    ``name`` overrides the name derived from the object (a replay must not be deduplicated).
    """
    sfn = sfn or client("stepfunctions")
    name = name or upload.execution_name
    try:
        arn = sfn.start_execution(
            stateMachineArn=state_machine_arn,
            name=name,
            input=json.dumps(upload.execution_input()),
        )["executionArn"]
    except sfn.exceptions.ExecutionAlreadyExists:
        arn = f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
        log.info("s3://%s/%s: execution %s already started", upload.bucket, upload.key, name)
        return Started(arn, already_running=True)
    log.info("s3://%s/%s: started %s", upload.bucket, upload.key, arn)
    return Started(arn, already_running=False)


def alert_if_unnotified(
    detail: dict[str, Any], state_machine_arn: str, topic_arn: str, stage: str, sns: Any = None
) -> bool:
    """Publish an alert for a failed, timed-out or aborted execution unless the state machine
    already did; returns whether one was published."""
    if detail.get("stateMachineArn") != state_machine_arn:
        return False
    status = detail.get("status")
    if status not in ("FAILED", "TIMED_OUT", "ABORTED"):
        return False
    if status == "FAILED" and detail.get("error") == NOTIFIED_FAILURE_ERROR:
        return False
    try:
        started_with = json.loads(detail.get("input") or "{}")
    except ValueError:
        started_with = {}
    if not isinstance(started_with, dict):
        started_with = {}
    day = _flight_date(started_with)
    message = {
        "status": status,
        "execution": detail.get("executionArn"),
        "input_object": _object_uri(started_with),
        "error": detail.get("error") or status,
        "cause": detail.get("cause") or f"the execution ended {status} before it could report",
        "replay": REPLAY_COMMAND.format(stage=stage, day=day) if day else None,
    }
    if day:
        what = f"day {day}"
    elif started_with.get("kind") == "airports":
        what = "airports dimension"
    else:
        what = str(detail.get("name") or "execution")
    subject = notification_subject(f"Flight pipeline {status}: {what}")
    text = json.dumps(message, indent=2)
    answer = (sns or client("sns")).publish(TopicArn=topic_arn, Subject=subject, Message=text)
    # One line per alert, for whoever reads the function's logs (the local dashboard does).
    log.info(
        "alert published: %s",
        json.dumps(
            {
                "execution": detail.get("executionArn"),
                "subject": subject,
                "message": text,
                "message_id": answer.get("MessageId"),
            }
        ),
    )
    return True


def _object_uri(started_with: dict[str, Any]) -> str | None:
    if started_with.get("bucket") and started_with.get("key"):
        return f"s3://{started_with['bucket']}/{started_with['key']}"
    return None


def _flight_date(started_with: dict[str, Any]) -> str | None:
    """The run's day, only if it is one: subjects and commands are built from it."""
    try:
        return date.fromisoformat(str(started_with.get("flight_date"))).isoformat()
    except ValueError:
        return None


def notification_subject(text: str) -> str:
    """``text`` as SNS accepts a Subject: printable ASCII, no line breaks or control characters,
    starting with a letter, number or punctuation mark, 1 to 99 characters."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text).lstrip(" ")
    if len(cleaned) > SUBJECT_MAX:
        cleaned = cleaned[: SUBJECT_MAX - 3].rstrip(" ") + "..."
    return cleaned or "Flight pipeline alert"
