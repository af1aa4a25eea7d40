"""S3 -> EventBridge -> targets in the local stack, delivered as AWS delivers them.

moto 5.2.5 sends S3 "Object Created" events to EventBridge rules but (a) delivers only to SQS,
log-group and bus targets, raising for Lambda, Step Functions and SNS, (b) stops at the first
failing target, skipping the remaining targets and rules, (c) fires disabled rules and ignores
a target's ``Input``/``InputPath``, and (d) builds S3 events that differ from AWS's (one ``id``
for all, ``reason`` "ObjectCreated", ``eTag``, every bus instead of the default one, an extra
"Object Tags Added" after every PutObject and two "Object Created" per multipart upload).

``install`` replaces ``Rule.send_to_targets`` and moto's S3 EventBridge emitter:

* Lambda targets call the registered Python handler in-process, asynchronously as Lambda's
  asynchronous invocation does, with the event and a Lambda-like context (for Chalice apps,
  the very function ``chalice deploy`` deploys); an unregistered function is logged. A handler
  that raises is retried as Lambda retries it (``MaximumRetryAttempts``, 2 by default), then
  Lambda's invocation record goes to the function's on-failure destination (an SQS queue or
  SNS topic), or the event is dropped with a log line, as on AWS without one;
* Step Functions targets start an execution; SNS targets publish;
* other targets go to moto's own delivery, one target at a time;
* a failing target is logged and never stops the other targets or rules.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import itertools
import json
import logging
import secrets
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

log = logging.getLogger("flightpipe.stack.events")

LambdaHandler = Callable[[Any, Any], Any]

# Lambda's asynchronous invocation retries a function error twice by default, and at most
# twice (EventInvokeConfig MaximumRetryAttempts, 0 to 2), waiting one minute before the first
# retry and two minutes before the second (AWS Lambda Developer Guide, "How Lambda handles
# errors and retries with asynchronous invocation"). Locally the same schedule runs sixty times
# faster: every attempt and the destination record still happen, in the order AWS has them,
# within the seconds a developer or a test waits for a failure, not three minutes.
MAX_RETRY_ATTEMPTS = 2
RETRY_DELAYS_SECONDS = (1.0, 2.0)
# Destination services the local stack delivers invocation records to.
_DESTINATIONS = ("sqs", "sns")


@dataclass(frozen=True)
class LocalFunction:
    """A registered Lambda function: its handler and its asynchronous invocation config."""

    handler: LambdaHandler
    max_retries: int = MAX_RETRY_ATTEMPTS
    on_failure: str | None = None
    retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS


_functions: dict[str, LocalFunction] = {}
_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda")
_original: dict[str, Any] = {}
_local = threading.local()
_sequencer = itertools.count(int(datetime.datetime.now().timestamp() * 1000) << 16)
_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
    "s3:ObjectRemoved:Delete": "DeleteObject",
    "s3:ObjectRemoved:DeleteMarkerCreated": "DeleteObject",
}


class LambdaContext:
    """The context object a Python Lambda function receives."""

    def __init__(self, function_arn: str, request_id: str | None = None):
        parts = function_arn.split(":")
        self.function_name = parts[6]
        self.invoked_function_arn = function_arn
        self.function_version = parts[7] if len(parts) > 7 else "$LATEST"
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.memory_limit_in_mb = 128
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def register_lambda(
    function_name: str,
    handler: LambdaHandler,
    *,
    max_retries: int = MAX_RETRY_ATTEMPTS,
    on_failure: str | None = None,
    retry_delays: Sequence[float] = RETRY_DELAYS_SECONDS,
) -> None:
    """Make ``handler(event, context)`` the local implementation of a Lambda function.

    ``max_retries`` and ``on_failure`` (an SQS queue or SNS topic ARN) are the function's
    ``EventInvokeConfig`` ``MaximumRetryAttempts`` and ``DestinationConfig.OnFailure``;
    ``retry_delays`` are the waits before each retry, in seconds.
    """
    if not 0 <= max_retries <= MAX_RETRY_ATTEMPTS:
        raise ValueError(f"MaximumRetryAttempts must be 0 to {MAX_RETRY_ATTEMPTS}: {max_retries}")
    if len(retry_delays) < max_retries or any(delay < 0 for delay in retry_delays):
        raise ValueError(f"need {max_retries} non-negative retry delays: {list(retry_delays)}")
    if on_failure is not None:
        parts = on_failure.split(":")
        if len(parts) < 6 or parts[0] != "arn" or parts[2] not in _DESTINATIONS:
            raise ValueError(
                f"on-failure destination {on_failure!r}: the local stack delivers to "
                "an SQS queue or SNS topic ARN"
            )
    _functions[function_name] = LocalFunction(
        handler, max_retries, on_failure, tuple(retry_delays[:max_retries])
    )


def invoke_async(function_arn: str, payload: Any) -> str | None:
    """Invoke a registered function as Lambda's ``InvocationType=Event`` does: queued, run on
    another thread, retried on error, the record of a final failure sent to the on-failure
    destination. Returns the request id (the same for every attempt, as on AWS), or None when
    no handler is registered for the function."""
    name = function_arn.split(":")[6]
    function = _functions.get(name)
    if function is None:
        log.error("no local handler for Lambda function %s", name)
        return None
    request_id = str(uuid.uuid4())
    body = json.dumps(payload)  # Lambda takes JSON; each attempt gets a fresh copy of it
    _executor.submit(_attempt, function, function_arn, body, request_id, 1)
    return request_id


def _attempt(function: LocalFunction, arn: str, body: str, request_id: str, attempt: int) -> None:
    try:
        function.handler(json.loads(body), LambdaContext(arn, request_id))
    except Exception as error:
        attempts = 1 + function.max_retries
        log.exception(
            "Lambda function %s failed, attempt %d of %d (request %s)",
            arn.split(":")[6],
            attempt,
            attempts,
            request_id,
        )
        if attempt < attempts:
            retry = threading.Timer(
                function.retry_delays[attempt - 1],
                _executor.submit,
                args=(_attempt, function, arn, body, request_id, attempt + 1),
            )
            retry.daemon = True
            retry.start()
        else:
            _retries_exhausted(function, arn, body, request_id, attempt, error)


def invocation_record(
    arn: str, payload: Any, request_id: str, attempts: int, error: BaseException
) -> dict[str, Any]:
    """The record Lambda sends to an on-failure destination once retries are exhausted, for a
    Python function that raised ``error`` (the runtime's ``errorMessage``, ``errorType``,
    ``requestId`` and ``stackTrace``, awslambdaric ``bootstrap.make_error``)."""
    qualified = arn if len(arn.split(":")) > 7 else f"{arn}:$LATEST"
    frames = traceback.extract_tb(error.__traceback__)[1:]  # from the handler down, as on AWS
    stamp = datetime.datetime.now(datetime.UTC)
    return {
        "version": "1.0",
        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": qualified,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": payload,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": qualified.split(":")[7],
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_list(frames),
        },
    }


def _retries_exhausted(
    function: LocalFunction,
    arn: str,
    body: str,
    request_id: str,
    attempts: int,
    error: BaseException,
) -> None:
    name = arn.split(":")[6]
    if function.on_failure is None:
        log.error(
            "Lambda function %s: event dropped after %d attempts, no on-failure destination "
            "(request %s): %s",
            name,
            attempts,
            request_id,
            body,
        )
        return
    record = json.dumps(invocation_record(arn, json.loads(body), request_id, attempts, error))
    try:
        _deliver(function.on_failure, record)
    except Exception:  # on AWS: the DestinationDeliveryFailures metric, and the event is lost
        log.exception(
            "Lambda function %s: invocation record not delivered to %s: %s",
            name,
            function.on_failure,
            record,
        )
        return
    log.error(
        "Lambda function %s: retries exhausted after %d attempts; invocation record sent to %s: %s",
        name,
        attempts,
        function.on_failure,
        record,
    )


def _deliver(destination: str, record: str) -> None:
    """Send an invocation record to an SQS queue or SNS topic, as the record's message body."""
    _, _, service, region, account, resource = destination.split(":", 5)
    if resource.endswith(".fifo"):  # AWS delivers to standard queues and topics only
        raise ValueError(f"{destination}: a FIFO {service.upper()} destination is not supported")
    if service == "sqs":
        from moto.sqs.models import sqs_backends

        sqs_backends[account][region].send_message(resource, record)
    else:
        from moto.sns.models import sns_backends

        sns_backends[account][region].publish(message=record, arn=destination)


def install() -> None:
    """Patch moto's EventBridge delivery and S3 event emission (idempotent)."""
    if _original:
        return
    from moto.events import models as events_models
    from moto.s3 import notifications
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    _original["send_to_targets"] = events_models.Rule.send_to_targets
    setattr(events_models.Rule, "send_to_targets", _send_to_targets)
    _original["send_event"] = notifications.send_event
    notifications.send_event = _send_event
    notifications._send_event_bridge_message = _send_event_bridge_message
    tags = "s3:ObjectTagging:Put"
    _suppressing(S3Response, "put_object", tags)  # moto tags every new object, tags or not
    _suppressing(S3Response, "copy_object", tags)
    _suppressing(S3Backend, "complete_multipart_upload", tags, "s3:ObjectCreated:Put")
    _emit_execution_status_changes()


def _emit_execution_status_changes() -> None:
    """Send "Step Functions Execution Status Change" events when executions end, as AWS does."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect_execution_status(self: Any) -> None:
        reflect(self)
        try:
            _send_default_bus(
                self.execution.account_id,
                self.execution.region_name,
                _status_change_event(self.execution),
            )
        except Exception:  # an event that cannot be sent never breaks the execution
            log.exception("Step Functions status change event failed")

    setattr(BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect_execution_status)


def _status_change_event(execution: Any) -> dict[str, Any]:
    from moto.core.utils import unix_time

    def millis(value: Any) -> int | None:
        return int(value.timestamp() * 1000) if value is not None else None

    def text(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, default=str)

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": execution.account_id,
        "time": unix_time(),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": str(getattr(execution.exec_status, "value", execution.exec_status)),
            "startDate": millis(execution.start_date),
            "stopDate": millis(execution.stop_date),
            "input": text(execution.input_data),
            "output": text(execution.output),
            "error": execution.error,
            "cause": execution.cause,
        },
    }


def _send_default_bus(account_id: str, region: str, event: dict[str, Any]) -> None:
    from moto.events.models import events_backends

    bus = events_backends[account_id][region].event_buses["default"]
    for rule in list(bus.rules.values()):
        rule.send_to_targets(event, transform_input=False)  # type: ignore[arg-type]


def _send_to_targets(rule: Any, event: Any, transform_input: bool = True) -> None:
    if getattr(rule, "state", "ENABLED") != "ENABLED" or not rule.event_pattern.matches_event(
        event
    ):
        return
    for target in list(rule.targets):
        service = target["Arn"].split(":")[2]
        try:
            if service == "lambda":
                _invoke_lambda(rule, target, event)
            elif service == "states":
                _start_execution(target, event)
            elif service == "sns":
                _publish(target, event)
            else:
                one = copy.copy(rule)
                one.targets = [target]
                _original["send_to_targets"](one, copy.deepcopy(event), transform_input)
        except Exception:  # one target's failure never stops the others
            log.exception("EventBridge rule %s: target %s failed", rule.name, target["Arn"])


def _payload(target: dict[str, Any], event: dict[str, Any]) -> Any:
    """What the target receives: the event, or its Input / InputPath / InputTransformer."""
    body = {k: v for k, v in copy.deepcopy(event).items() if k != "ingestion-time"}
    if isinstance(body.get("time"), int | float):
        stamp = datetime.datetime.fromtimestamp(float(body["time"]), tz=datetime.UTC)
        body["time"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse

        found = parse(target["InputPath"]).find(body)
        return found[0].value if found else None
    if target.get("InputTransformer"):
        from moto.events.utils import EventTemplateParser

        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=cast(Any, {**body, "ingestion-time": event.get("ingestion-time", 0)}),
        )
    return body


def _invoke_lambda(rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
    request_id = invoke_async(target["Arn"], _payload(target, event))
    if request_id is not None:
        log.info(
            "EventBridge rule %s invoked %s (request %s)", rule.name, target["Arn"], request_id
        )


def _start_execution(target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.stepfunctions.responses import get_backend

    arn = target["Arn"]
    region, account = arn.split(":")[3], arn.split(":")[4]
    execution = get_backend(account, region).start_execution(
        state_machine_arn=arn, name="", execution_input=json.dumps(_payload(target, event))
    )
    log.info("EventBridge started execution %s", execution.execution_arn)


def _publish(target: dict[str, Any], event: dict[str, Any]) -> None:
    from moto.sns.models import sns_backends

    arn = target["Arn"]
    region, account = arn.split(":")[3], arn.split(":")[4]
    payload = _payload(target, event)
    message = payload if isinstance(payload, str) else json.dumps(payload)
    sns_backends[account][region].publish(message=message, arn=arn)


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: Any, key: Any) -> None:
    """Build the event as S3 sends it to EventBridge, to the default bus only."""
    from moto.core.utils import unix_time
    from moto.s3.notifications import _detail_type

    try:
        name = str(getattr(event_name, "value", event_name))
        obj: dict[str, Any] = {"key": key.name}
        if "ObjectRemoved" not in name:
            obj.update({"size": key.size, "etag": key.etag.replace('"', "")})
        if bucket.is_versioned and key.version_id not in (None, "null"):
            obj["version-id"] = key.version_id
        obj["sequencer"] = f"{next(_sequencer):018X}"
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": obj,
            "request-id": secrets.token_hex(8).upper(),
            "requester": account_id,
            "source-ip-address": "127.0.0.1",
        }
        if name in _REASONS:
            detail["reason"] = _REASONS[name]
        if name.startswith("s3:ObjectRemoved"):
            detail["deletion-type"] = (
                "Delete Marker Created"
                if name.endswith("DeleteMarkerCreated")
                else "Permanently Deleted"
            )
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": _detail_type(name),
            "source": "aws.s3",
            "account": account_id,
            "time": unix_time(),
            "region": bucket.region_name,
            "resources": [bucket.arn],
            "detail": detail,
        }
        _send_default_bus(account_id, bucket.region_name, event)
    except Exception:  # S3 never fails a PutObject because of its notifications
        log.exception("S3 -> EventBridge event for s3://%s/%s failed", bucket.name, key.name)


def _send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    if str(getattr(event_name, "value", event_name)) in getattr(_local, "suppressed", frozenset()):
        return
    _original["send_event"](account_id, event_name, bucket, key)


@contextlib.contextmanager
def _suppress(names: frozenset[str]) -> Iterator[None]:
    previous: frozenset[str] = getattr(_local, "suppressed", frozenset())
    _local.suppressed = previous | names
    try:
        yield
    finally:
        _local.suppressed = previous


def _suppressing(cls: Any, method: str, *event_names: str) -> None:
    """Wrap ``cls.method`` so that the named S3 notifications it emits are dropped."""
    original = getattr(cls, method)
    names = frozenset(event_names)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _suppress(names):
            return original(self, *args, **kwargs)

    setattr(cls, method, wrapper)
