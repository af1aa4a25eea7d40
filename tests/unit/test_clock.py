"""The local stack's clock (flightpipe.stack.clock) on moto's own Step Functions interpreter.

A Wait of a minute and retries a minute apart end in a fraction of a second at a scale of
1,000: the patches reach the interpreter's waits. Each test fails if moto moves them (a
minute-long wait would then take a minute, far past the bound asserted here).
"""

from __future__ import annotations

import itertools
import json
import time

import boto3
import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from flightpipe.stack import clock, sfn_workarounds

pytestmark = pytest.mark.unit

ROLE = "arn:aws:iam::123456789012:role/local"
FAST = clock.TimeModel("local", scale=1000)


@pytest.fixture
def sfn():
    with mock_aws():
        before = default_user_config.get("stepfunctions")
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        sfn_workarounds.apply()
        clock.install(FAST)
        try:
            yield boto3.client("stepfunctions", region_name="us-east-1")
        finally:
            clock.install(clock.from_environment({}))
            default_user_config["stepfunctions"] = before or {}


def run(sfn, definition: dict) -> tuple[dict, list[dict], float]:
    arn = sfn.create_state_machine(name="clock", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    started = time.monotonic()
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() - started < 30, "the execution did not end on the scaled clock"
        time.sleep(0.02)
    history = sfn.get_execution_history(executionArn=execution)["events"]
    return described, history, time.monotonic() - started


def test_a_wait_state_waits_its_seconds_at_the_clock_scale(sfn):
    described, history, elapsed = run(
        sfn,
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {"Type": "Wait", "Seconds": 60, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        },
    )
    assert described["status"] == "SUCCEEDED"
    assert "WaitStateExited" in [e["type"] for e in history]
    assert elapsed >= FAST.real(60)


def test_retry_intervals_run_at_the_clock_scale_and_every_attempt_happens(sfn):
    described, history, _ = run(
        sfn,
        {
            "StartAt": "Read",
            "States": {
                "Read": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Parameters": {"Bucket": "no-such-bucket", "Key": "k"},
                    "Retry": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "IntervalSeconds": 60,
                            "BackoffRate": 1,
                            "MaxAttempts": 3,
                        }
                    ],
                    "End": True,
                }
            },
        },
    )
    assert described["status"] == "FAILED"
    failures = [e["timestamp"] for e in history if e["type"] == "TaskFailed"]
    assert len(failures) == 4  # the first attempt and three retries
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(failures)]
    assert all(gap >= FAST.real(60) * 0.9 for gap in gaps), gaps


def test_the_model_and_scale_come_from_the_environment():
    model = clock.from_environment({"FLIGHTPIPE_TIME_MODEL": "aws", "FLIGHTPIPE_TIME_SCALE": "120"})
    assert (model.name, model.scale, model.real(60)) == ("aws", 120, 0.5)
    assert (model.crawl_seconds, model.job_start_seconds, model.job_run_seconds) == (60, 60, 120)
    assert clock.from_environment({}) == clock.MODELS["local"]
    with pytest.raises(ValueError, match="FLIGHTPIPE_TIME_MODEL='slow'"):
        clock.from_environment({"FLIGHTPIPE_TIME_MODEL": "slow"})
    with pytest.raises(ValueError, match="FLIGHTPIPE_TIME_SCALE='0'"):
        clock.from_environment({"FLIGHTPIPE_TIME_SCALE": "0"})
