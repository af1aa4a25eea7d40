"""Step Functions on the local stack: Retry and Catch, and one test per moto defect worked around
in ``flightpipe.stack.sfn_workarounds`` (each fails if its workaround stops working)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/states"


def machine(stack, name: str, definition: dict) -> str:
    sfn = stack.client("stepfunctions")
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def run(stack, arn: str, payload: dict | None = None) -> dict:
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload or {}))
    return stack.execution(started["executionArn"], timeout=120)


def test_retry_then_catch_publishes_the_failure(stack):
    arn = machine(
        stack,
        "retry-catch",
        {
            "StartAt": "Read",
            "States": {
                "Read": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Parameters": {"Bucket": stack.provisioned.data_bucket, "Key": "no/such/key"},
                    "Retry": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": 2,
                            "BackoffRate": 1.0,
                        }
                    ],
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Alert"}
                    ],
                    "End": True,
                },
                "Alert": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sns:publish",
                    "Parameters": {
                        "TopicArn": stack.provisioned.alerts_topic_arn,
                        "Subject": "failed",
                        "Message.$": "$.error",
                    },
                    "Next": "Failed",
                },
                "Failed": {"Type": "Fail", "Error": "ReadFailed"},
            },
        },
    )
    execution = run(stack, arn)
    assert (execution["status"], execution["error"]) == ("FAILED", "ReadFailed")
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=execution["executionArn"]
    )
    failures = [e for e in history["events"] if e["type"] == "TaskFailed"]
    assert len(failures) == 3, "one attempt and two retries"
    alert = stack.alert(lambda a: a.get("Subject") == "failed")
    assert "NoSuchKey" in alert["Message"]


def glue_sync_machine(stack, name: str) -> str:
    return machine(
        stack,
        name,
        {
            "StartAt": "Run",
            "States": {
                "Run": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::glue:startJobRun.sync",
                    "Parameters": {
                        "JobName": stack.provisioned.glue_job,
                        "Arguments": {"--flight_date.$": "$.day"},
                    },
                    "End": True,
                }
            },
        },
    )


def test_defect_1_glue_sync_waits_for_the_run_and_succeeds(with_airports):
    stack = with_airports
    s3 = stack.client("s3")
    day = "2013-01-03"
    from tests.integration.test_stack import crawl, upload_day

    upload_day(stack, day)
    crawl(stack)
    execution = run(stack, glue_sync_machine(stack, "glue-sync-ok"), {"day": day})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["JobRunState"] == "SUCCEEDED"
    assert s3.get_object(
        Bucket=stack.provisioned.data_bucket, Key=f"run-reports/date={day}/{output['Id']}.json"
    )


def test_defect_1_glue_sync_fails_the_task_when_the_run_fails(stack):
    execution = run(stack, glue_sync_machine(stack, "glue-sync-fail"), {"day": "not-a-day"})
    assert (execution["status"], execution["error"]) == ("FAILED", "States.TaskFailed")
    assert "is not a YYYY-MM-DD date" in execution["cause"]


def test_defect_2_describe_execution_answers_with_datetimes_in_the_output(stack):
    arn = machine(
        stack,
        "datetimes",
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
                    "Parameters": {"Name": stack.provisioned.crawler},
                    "End": True,
                }
            },
        },
    )
    execution = run(stack, arn)
    assert execution["status"] == "SUCCEEDED"
    crawler = json.loads(execution["output"])["Crawler"]
    assert crawler["Name"] == stack.provisioned.crawler
    assert isinstance(crawler["CreationTime"], str)


def test_defect_3_unnamed_executions_get_distinct_uuid_names(stack):
    sfn = stack.client("stepfunctions")
    arn = machine(
        stack, "unnamed", {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    )
    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    assert first != second
    names = [sfn.describe_execution(executionArn=a)["name"] for a in (first, second)]
    assert all(len(n) == 36 and n.count("-") == 4 for n in names), names


def test_defect_2_execution_start_time_is_an_iso_string(stack):
    arn = machine(
        stack,
        "start-time",
        {
            "StartAt": "Stamp",
            "States": {
                "Stamp": {
                    "Type": "Pass",
                    "Parameters": {"started.$": "$$.Execution.StartTime"},
                    "Next": "Render",
                },
                "Render": {
                    "Type": "Pass",
                    "Parameters": {"text.$": "States.JsonToString($)"},
                    "End": True,
                },
            },
        },
    )
    execution = run(stack, arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    started = json.loads(json.loads(execution["output"])["text"])["started"]
    assert started.endswith("Z") and "T" in started
