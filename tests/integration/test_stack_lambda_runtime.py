"""The Lambda runtime of the local stack: execution environments as AWS runs them.

AWS Lambda Developer Guide, "Understanding the Lambda execution environment lifecycle": an
environment runs its Init phase once (the handler's module imported), then invocations one
after another, keeping what its module holds; "Init Duration" is reported for the first
invocation only ("Cold starts and latency"). "If the Lambda function crashes or times out
during the Invoke phase, Lambda resets the execution environment" (Invoke phase failures); an
error the handler raises is answered and the environment kept. Run by LocalStack's Lambda
service with the stack's executor (``LAMBDA_RUNTIME_EXECUTOR=subprocess``), invoked
synchronously with the log tail, as ``aws lambda invoke --log-type Tail`` shows it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.pipeline import deploy_function


@pytest.fixture
def counts(stack) -> str:
    function = deploy_function(stack, "counts", {}, timeout=2)
    yield function
    stack.client("lambda").delete_function(FunctionName=function)


def invoke(stack, function: str, event: dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """The answer (parsed), the log tail and the function error of one synchronous invocation."""
    answer = stack.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps(event).encode(), LogType="Tail"
    )
    logs = base64.b64decode(answer["LogResult"]).decode()
    return json.loads(answer["Payload"].read()), logs, answer.get("FunctionError")


def test_an_environment_runs_its_invocations_one_after_another_warm(stack, counts):
    first, first_logs, _ = invoke(stack, counts, {})
    second, second_logs, _ = invoke(stack, counts, {})
    assert second == {"invocations": first["invocations"] + 1, "pid": first["pid"]}
    assert "Init Duration:" in first_logs and "Init Duration:" not in second_logs
    assert f"invocation 2 of process {first['pid']}" in second_logs
    assert "invocation 1 " not in second_logs, "one invocation's log holds only its own output"


def test_an_error_the_handler_raises_keeps_the_environment(stack, counts):
    first, _, _ = invoke(stack, counts, {})
    error, logs, function_error = invoke(stack, counts, {"fail": "no such day"})
    after, _, _ = invoke(stack, counts, {})
    assert function_error == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "no such day")
    assert "[ERROR] ValueError: no such day" in logs
    assert after == {"invocations": first["invocations"] + 2, "pid": first["pid"]}


def test_a_timeout_resets_the_environment(stack, counts):
    first, _, _ = invoke(stack, counts, {})
    error, logs, function_error = invoke(stack, counts, {"sleep": 10})
    after, after_logs, _ = invoke(stack, counts, {})
    assert function_error == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 2.00 seconds")
    assert "Status: timeout" in logs
    assert after["invocations"] == 1 and after["pid"] != first["pid"]
    assert "Init Duration:" in after_logs


def test_a_crash_resets_the_environment(stack, counts):
    first, _, _ = invoke(stack, counts, {})
    error, _, function_error = invoke(stack, counts, {"exit": 3})
    after, _, _ = invoke(stack, counts, {})
    assert function_error == "Unhandled"
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert after["invocations"] == 1 and after["pid"] != first["pid"]


def test_a_failed_init_answers_each_invocation_with_its_error(stack):
    """awslambdaric answers the first invocation of an environment whose Init failed with the
    error, under that invocation's request id; the next invocation initialises again."""
    function = deploy_function(stack, "no_such_handler", {})
    try:
        for _ in range(2):
            answer = stack.client("lambda").invoke(FunctionName=function, Payload=b"{}")
            error = json.loads(answer["Payload"].read())
            assert answer.get("FunctionError") == "Unhandled"
            assert error["errorType"] == "Runtime.HandlerNotFound"
            assert error["errorMessage"] == "Handler 'no_such_handler' missing on module 'handlers'"
            assert error["requestId"] == answer["ResponseMetadata"]["RequestId"]
    finally:
        stack.client("lambda").delete_function(FunctionName=function)
