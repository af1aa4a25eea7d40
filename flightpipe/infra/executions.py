"""The state machine's executions as the commands meet them: named, waited for, ended.

The upload handler names the execution of an upload after the object version it stored
(``chalicelib.uploads.Upload.execution_name``), so whoever uploaded the object knows the
execution's ARN without listing the state machine's executions, which on a busy stack are
hundreds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

from flightpipe.shipped import reach_handler_code

# The statuses of an execution that has ended (Step Functions' ExecutionStatus, less RUNNING
# and PENDING_REDRIVE, which may still run).
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
ENDED_BADLY = TERMINAL - {"SUCCEEDED"}


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of the state machine."""
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"


def upload_execution_arn(
    state_machine_arn: str, bucket: str, key: str, stored: Mapping[str, Any], day: date | None
) -> str:
    """The ARN of the execution the handler starts for an object just stored: ``stored`` is S3's
    answer to the put or to a head of it (its ``VersionId`` and ``ETag``); ``day`` the upload's
    flight date, None for the airports dimension."""
    upload = _handler_upload()(
        "day" if day else "airports",
        bucket,
        key,
        str(stored["ETag"]).strip('"'),
        day,
        _version_id(stored.get("VersionId")),
    )
    return execution_arn(state_machine_arn, upload.execution_name)


def _version_id(version: Any) -> str | None:
    # As the handler reads the event: "null" is the version of an object stored while the
    # bucket was not versioned, and identifies nothing.
    return str(version) if version not in (None, "", "null") else None


def _handler_upload() -> Any:
    """The handler's own ``Upload``, so that a name is never computed twice."""
    reach_handler_code()
    from chalicelib.uploads import Upload

    return Upload


def wait(
    sfn: Any,
    arns: Iterable[str],
    timeout: float,
    *,
    poll_seconds: float = 1.0,
    on_end: Callable[[dict[str, Any]], None] | None = None,
    give_up: Callable[[], bool] | None = None,
) -> dict[str, dict[str, Any]]:
    """Describe each execution until it ends, ``timeout`` seconds at most; the ended ones'
    descriptions by ARN. An execution not started yet (the handler starts it when the upload's
    event arrives) is waited for as a running one. ``on_end`` hears of each as it ends;
    ``give_up`` is asked between rounds."""
    pending = list(dict.fromkeys(arns))
    ended: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for arn in list(pending):
            described = _described(sfn, arn)
            if described is not None and described["status"] in TERMINAL:
                ended[arn] = described
                pending.remove(arn)
                if on_end is not None:
                    on_end(described)
        if not pending or time.monotonic() >= deadline or (give_up and give_up()):
            break
        time.sleep(poll_seconds)
    return ended


def _described(sfn: Any, arn: str) -> dict[str, Any] | None:
    try:
        return dict(sfn.describe_execution(executionArn=arn))
    except sfn.exceptions.ExecutionDoesNotExist:
        return None


def short_name(arn: str) -> str:
    """An execution's name, from its ARN."""
    return arn.rsplit(":", 1)[-1]


def json_object(text: Any) -> dict[str, Any]:
    """``text`` as a JSON object (an execution's input or output, a task's parameters, a
    notification's message); empty when it is none."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def failure_of(sfn: Any, execution: dict[str, Any]) -> tuple[str, str]:
    """The error and cause of an execution that ended badly.

    An execution whose failure the state machine caught ends with a generic error
    (``PipelineFailed``: the notification holds the details); the caught one, ``$.failure``
    (``Error`` and ``Cause``), is in the input of the states that followed the catch, which the
    execution's history records. Otherwise (timed out, aborted) the execution's own.
    """
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution["executionArn"]
    )
    for page in pages:
        for event in page["events"]:
            entered = event.get("stateEnteredEventDetails") or {}
            failure = json_object(entered.get("input") or "").get("failure")
            if isinstance(failure, dict) and failure.get("Error"):
                return str(failure["Error"]), str(failure.get("Cause") or "")
    return str(execution.get("error") or execution["status"]), str(execution.get("cause") or "")


def readable_cause(cause: str) -> str:
    """A cause as a person wants it: a failed Glue job run's cause (``startJobRun.sync`` gives the
    whole JobRun as JSON) is the run's id, state and ``ErrorMessage``; any other as it is."""
    run = json_object(cause)
    if "ErrorMessage" not in run:
        return cause
    return f"job run {run.get('Id')} {run.get('JobRunState')}: {run['ErrorMessage']}"
