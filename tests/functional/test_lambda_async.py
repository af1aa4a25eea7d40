"""The local stack's asynchronous Lambda invocation: retries, then the on-failure destination.

AWS's behaviour, from the AWS Lambda Developer Guide: "How Lambda handles errors and retries
with asynchronous invocation" (a function error is retried twice by default, MaximumRetryAttempts
0 to 2) and "Capturing records of Lambda asynchronous invocations" (the invocation record: its
example for an event that failed three processing attempts). A Python function's error payload
is the runtime's (aws/aws-lambda-python-runtime-interface-client, awslambdaric/bootstrap.py,
``make_error``). moto's SQS and SNS back the destinations.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid

import boto3
import pytest

from flightpipe.stack import events

pytestmark = pytest.mark.functional

FAST = (0.05, 0.1)  # the local stack's retry delays, shortened further for tests


class Handler:
    """Raises on its first ``failures`` calls; records every call's request id."""

    def __init__(self, failures: int):
        self.failures = failures
        self.request_ids: list[str] = []
        self.done = threading.Event()

    def __call__(self, event, context):
        self.request_ids.append(context.aws_request_id)
        if len(self.request_ids) <= self.failures:
            raise RuntimeError(f"attempt {len(self.request_ids)} failed on {event['day']}")
        self.done.set()
        return {"ok": True}


def function_arn() -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def queue(moto):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"on-failure-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs, url, arn


def messages(sqs, url: str, wait: float) -> list[dict]:
    deadline = time.monotonic() + wait
    found: list[dict] = []
    while time.monotonic() < deadline:
        found += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        time.sleep(0.05)
    return found


def test_a_handler_that_always_raises_ends_as_one_record_in_the_destination(queue):
    sqs, url, destination = queue
    arn, handler = function_arn(), Handler(failures=99)
    events.register_lambda(
        arn.split(":")[6], handler, max_retries=2, on_failure=destination, retry_delays=FAST
    )

    request_id = events.invoke_async(arn, {"day": "2013-01-05"})

    [message] = messages(sqs, url, wait=2.0)
    assert handler.request_ids == [request_id] * 3, "one attempt and two retries, one request"
    record = json.loads(message["Body"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("timestamp"))
    stack_trace = record["responsePayload"].pop("stackTrace")
    assert record == {
        "version": "1.0",
        "requestContext": {
            "requestId": request_id,
            "functionArn": f"{arn}:$LATEST",
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
    assert "in __call__" in stack_trace[-1] and "raise RuntimeError" in stack_trace[-1]
    assert not any("_attempt" in frame for frame in stack_trace)


def test_a_handler_that_succeeds_on_a_retry_sends_nothing(queue):
    sqs, url, destination = queue
    arn, handler = function_arn(), Handler(failures=1)
    events.register_lambda(arn.split(":")[6], handler, on_failure=destination, retry_delays=FAST)

    events.invoke_async(arn, {"day": "2013-01-05"})

    assert handler.done.wait(2.0)
    assert messages(sqs, url, wait=0.5) == []
    assert len(handler.request_ids) == 2


def test_the_record_can_go_to_an_sns_topic(queue):
    sqs, url, queue_arn = queue
    sns = boto3.client("sns")
    topic = sns.create_topic(Name=f"on-failure-{uuid.uuid4().hex[:8]}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    arn = function_arn()
    events.register_lambda(arn.split(":")[6], Handler(failures=99), max_retries=0, on_failure=topic)

    events.invoke_async(arn, {"day": "2013-01-06"})

    [message] = messages(sqs, url, wait=1.0)
    record = json.loads(json.loads(message["Body"])["Message"])
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"day": "2013-01-06"}


def test_without_a_destination_the_event_is_dropped_with_a_log_line(moto, caplog):
    arn, handler = function_arn(), Handler(failures=99)
    events.register_lambda(arn.split(":")[6], handler, max_retries=1, retry_delays=FAST)

    with caplog.at_level(logging.ERROR, logger="flightpipe.stack.events"):
        events.invoke_async(arn, {"day": "2013-01-07"})
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not any(
            "dropped" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)

    [dropped] = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert "after 2 attempts, no on-failure destination" in dropped and "2013-01-07" in dropped
    assert len(handler.request_ids) == 2


def test_a_fifo_destination_gets_nothing_and_the_failure_is_logged(moto, caplog):
    """Only standard queues and topics take invocation records; on AWS a FIFO one counts a
    DestinationDeliveryFailures and the record is lost ("Capturing records of Lambda
    asynchronous invocations")."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(
        QueueName=f"on-failure-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    destination = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    arn = function_arn()
    events.register_lambda(arn.split(":")[6], Handler(99), max_retries=0, on_failure=destination)

    with caplog.at_level(logging.ERROR, logger="flightpipe.stack.events"):
        events.invoke_async(arn, {"day": "2013-01-08"})
        found = messages(sqs, url, wait=0.5)

    assert found == []
    assert "a FIFO SQS destination is not supported" in caplog.text


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"max_retries": 3}, "MaximumRetryAttempts must be 0 to 2"),
        ({"max_retries": -1}, "MaximumRetryAttempts must be 0 to 2"),
        ({"on_failure": "arn:aws:lambda:us-east-1:123456789012:function:f"}, "SQS queue or SNS"),
        ({"on_failure": "my-queue"}, "SQS queue or SNS"),
    ],
)
def test_configurations_lambda_or_the_local_stack_refuses(settings, refused):
    with pytest.raises(ValueError, match=refused):
        events.register_lambda("refused", Handler(0), **settings)


def test_an_unregistered_function_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="flightpipe.stack.events"):
        assert events.invoke_async(function_arn(), {}) is None
    assert "no local handler for Lambda function test-" in caplog.text
