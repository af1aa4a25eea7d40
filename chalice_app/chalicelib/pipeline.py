"""Starting pipeline runs and sending alerts: small boto3 wrappers with the pipeline's outcomes.

Clients are made lazily and can be passed in (tests use a moto-backed or a local-stack client);
no endpoint URL appears here: boto3 reads ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import boto3

from chalicelib.uploads import Upload

log = logging.getLogger("flightpipe.handlers")

# Our state machine ends every failure it catches in this Fail state, after it has published
# the failure notification itself.
NOTIFIED_FAILURE_ERROR = "PipelineFailed"


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
    sfn = sfn or boto3.client("stepfunctions")
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
    detail: dict[str, Any], state_machine_arn: str, topic_arn: str, sns: Any = None
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
    message = {
        "status": status,
        "execution": detail.get("executionArn"),
        "input_object": _object_uri(started_with),
        "error": detail.get("error") or status,
        "cause": detail.get("cause") or f"the execution ended {status} before it could report",
    }
    subject = f"Flight pipeline {status}: {message['input_object'] or detail.get('name')}"
    (sns or boto3.client("sns")).publish(
        TopicArn=topic_arn, Subject=_subject(subject), Message=json.dumps(message, indent=2)
    )
    return True


def _object_uri(started_with: dict[str, Any]) -> str | None:
    if started_with.get("bucket") and started_with.get("key"):
        return f"s3://{started_with['bucket']}/{started_with['key']}"
    return None


def _subject(text: str) -> str:
    """SNS subjects: printable ASCII, at most 100 characters."""
    cleaned = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return cleaned if len(cleaned) <= 100 else cleaned[:97] + "..."
