"""Asynchronous Lambda invocations on the local stack: a failing invocation is retried, then its
record goes to the on-failure destination; the upload handler's failures land in the pipeline's
handler-failures queue.

AWS's behaviour, from the AWS Lambda Developer Guide: "How Lambda handles errors and retries
with asynchronous invocation" (a function error is retried twice by default, MaximumRetryAttempts
0 to 2, the same request id for every attempt) and "Capturing records of Lambda asynchronous
invocations" (the record: its example for an event that failed three processing attempts). The
delays between attempts are LocalStack's (n x LAMBDA_RETRY_BASE_DELAY seconds, on the stack's
clock): the tests wait for outcomes, not for times.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from flightpipe.stack.local import LAMBDA_RETRY_BASE_SECONDS
from tests.support.pipeline import (
    deploy_function,
    executions_for,
    function_name,
    queue,
    received,
)

# Long enough for three attempts however the stack's clock is scaled (unscaled: 1 + 2 minutes),
# and for an event held back by a configuration change (HANDOVER_SECONDS).
ATTEMPTS_TIMEOUT = 3 * LAMBDA_RETRY_BASE_SECONDS + 180
# LocalStack 4.13.1 replaces a function's event poller when its configuration changes; the old
# poller, stopped within seconds, drops what its last receive took, and the event comes back
# only after the queue's visibility timeout, the function's timeout plus a minute
# (services/lambda_/invocation/event_manager.py: Poller.run, stop_for_update). Uploads wait
# this long after a change; not for correctness (the outcome is awaited), only not to be held.
HANDOVER_SECONDS = 5.0


@pytest.fixture
def echo_bucket(stack) -> str:
    name = f"attempts-{uuid.uuid4().hex[:8]}"
    stack.client("s3").create_bucket(Bucket=name)
    return name


def attempts(stack, bucket: str) -> dict[str, int]:
    """Attempts per request id, as the test functions record them."""
    found: dict[str, int] = {}
    pages = (
        stack.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix="attempts/")
    )
    for item in (item for page in pages for item in page.get("Contents", [])):
        request_id = item["Key"].split("/")[1]
        found[request_id] = found.get(request_id, 0) + 1
    return found


def with_retries_to(stack, function: str, destination: str, retries: int = 2) -> None:
    stack.client("lambda").put_function_event_invoke_config(
        FunctionName=function,
        MaximumRetryAttempts=retries,
        DestinationConfig={"OnFailure": {"Destination": destination}},
    )


def test_a_function_that_always_fails_is_retried_twice_then_recorded_at_its_destination(
    stack, echo_bucket
):
    url, destination = queue(stack, "on-failure")
    function = deploy_function(stack, "always_fails", {"ECHO_BUCKET": echo_bucket})
    with_retries_to(stack, function, destination)

    stack.client("lambda").invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps({"day": "2013-01-05"})
    )

    [record] = stack.wait_for(
        lambda: received(stack, url, wait=1.0), ATTEMPTS_TIMEOUT, "the invocation record"
    )
    request_id = record["requestContext"]["requestId"]
    assert attempts(stack, echo_bucket) == {request_id: 3}, "one request, three attempts"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("timestamp"))
    stack_trace = record["responsePayload"].pop("stackTrace")
    assert record == {
        "version": "1.0",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{function}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"day": "2013-01-05"},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": "attempt 3 failed on 2013-01-05",
            "errorType": "RuntimeError",
            "requestId": request_id,
        },
    }
    assert "in always_fails" in stack_trace[-1] and "raise RuntimeError" in stack_trace[-1]
    stack.client("lambda").delete_function(FunctionName=function)


def test_a_function_that_succeeds_on_its_retry_records_nothing(stack, echo_bucket):
    url, destination = queue(stack, "on-failure")
    function = deploy_function(stack, "fails_once", {"ECHO_BUCKET": echo_bucket})
    with_retries_to(stack, function, destination)
    s3 = stack.client("s3")

    stack.client("lambda").invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps({"day": "2013-01-06"})
    )

    [done] = stack.wait_for(
        lambda: s3.list_objects_v2(Bucket=echo_bucket, Prefix="succeeded/").get("Contents"),
        ATTEMPTS_TIMEOUT,
        "the retry to succeed",
    )
    assert attempts(stack, echo_bucket) == {done["Key"].split("/")[1]: 1}
    assert received(stack, url, wait=3.0) == []
    stack.client("lambda").delete_function(FunctionName=function)


def test_an_upload_the_handler_cannot_start_ends_in_the_handler_failures_queue(with_airports):
    """The deployed upload handler as the template configures it (two retries, then the
    on-failure destination HandlerFailures): with its state machine unreachable, an upload's
    event is tried three times and then kept, whole, for a person to replay."""
    stack = with_airports
    lambda_, name = stack.client("lambda"), function_name(stack, "OnObjectCreated")
    variables = lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    missing = stack.pipeline.state_machine_arn + "-gone"

    def configure(values: dict[str, str]) -> None:
        lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": values})
        lambda_.get_waiter("function_updated_v2").wait(FunctionName=name)
        time.sleep(HANDOVER_SECONDS)

    day, key = "2014-06-01", "daily_flights/date=2014-06-01/flights.csv"
    configure({**variables, "STATE_MACHINE_ARN": missing})
    try:
        stack.client("s3").put_object(
            Bucket=stack.pipeline.data_bucket, Key=key, Body=b"Carrier\nAA\n"
        )
        records = stack.wait_for(
            lambda: received(stack, stack.pipeline.handler_failures_url, wait=1.0),
            ATTEMPTS_TIMEOUT,
            "the upload's record in the handler-failures queue",
        )
    finally:
        configure(variables)

    [record] = records
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].split(":")[6] == name
    event = record["requestPayload"]
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["detail"]["object"]["key"] == key
    # As on AWS, IAM decides first: the role may start only the stack's state machine
    # (the local IAM check answers as AWS does; botocore has no shape for the error).
    assert record["responsePayload"]["errorType"] == "ClientError"
    message = record["responsePayload"]["errorMessage"]
    assert "(AccessDeniedException)" in message
    assert f"not authorized to perform: states:StartExecution on resource: {missing}" in message
    assert executions_for(stack, key) == [], f"nothing of {day} started"
