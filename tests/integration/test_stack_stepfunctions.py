"""Step Functions on the local stack (LocalStack's interpreter, with the project's fixes), as the
pipeline's state machine uses it: Retry and Catch, ``glue:startJobRun.sync`` against the Glue
service, aws-sdk results and ``$$.Execution.StartTime`` as JSON text, and execution names."""

from __future__ import annotations

import json
import re

import pytest

AWS_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
# The stack's account: Step Functions calls the services as the execution's role, in its account.
ROLE = "arn:aws:iam::000000000000:role/states"


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
                    "Parameters": {"Bucket": stack.pipeline.data_bucket, "Key": "no/such/key"},
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
                        "TopicArn": stack.pipeline.alerts_topic_arn,
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
                        "JobName": stack.pipeline.job,
                        "Arguments": {"--flight_date.$": "$.day"},
                    },
                    "End": True,
                }
            },
        },
    )


def test_glue_sync_waits_for_the_run_and_succeeds(with_airports):
    stack = with_airports
    s3 = stack.client("s3")
    day = "2013-01-03"
    from tests.support.pipeline import crawl, upload_day

    upload_day(stack, day)
    crawl(stack)
    execution = run(stack, glue_sync_machine(stack, "glue-sync-ok"), {"day": day})
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    assert output["JobRunState"] == "SUCCEEDED"
    assert s3.get_object(
        Bucket=stack.pipeline.data_bucket, Key=f"run-reports/date={day}/{output['Id']}.json"
    )


def test_glue_sync_fails_the_task_when_the_run_fails(stack):
    execution = run(stack, glue_sync_machine(stack, "glue-sync-fail"), {"day": "not-a-day"})
    assert (execution["status"], execution["error"]) == ("FAILED", "States.TaskFailed")
    assert "is not a YYYY-MM-DD date" in execution["cause"]


def test_an_aws_sdk_result_holds_its_timestamps_as_text(stack):
    """As AWS writes them (``"2013-08-23T01:02:15.422Z"``: DescribeStacks through the aws-sdk
    integration, quoted in sam-goodwin/functionless#489), so that ``States.JsonToString`` of a
    crawler's ``LastCrawl`` (the pipeline's CrawlFailed state) works."""
    arn = machine(
        stack,
        "datetimes",
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
                    "Parameters": {"Name": stack.pipeline.crawler},
                    "Next": "Render",
                },
                "Render": {
                    "Type": "Pass",
                    "Parameters": {
                        "crawler.$": "$.Crawler",
                        "text.$": "States.JsonToString($.Crawler)",
                    },
                    "End": True,
                },
            },
        },
    )
    execution = run(stack, arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])
    crawler = output["crawler"]
    assert crawler["Name"] == stack.pipeline.crawler
    assert re.fullmatch(AWS_TIMESTAMP, crawler["CreationTime"]), crawler["CreationTime"]
    assert json.loads(output["text"]) == crawler


def test_unnamed_executions_get_distinct_uuid_names(stack):
    sfn = stack.client("stepfunctions")
    arn = machine(
        stack, "unnamed", {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    )
    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    assert first != second
    names = [sfn.describe_execution(executionArn=a)["name"] for a in (first, second)]
    assert all(len(n) == 36 and n.count("-") == 4 for n in names), names


def test_execution_start_time_is_an_iso_string(stack):
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


def test_a_name_starts_one_execution_and_a_second_start_under_it_is_refused(stack):
    """The upload handler names each run from its object version, and relies on Step Functions
    to refuse a second start under a name already used: a duplicate event starts nothing."""
    sfn = stack.client("stepfunctions")
    arn = machine(
        stack, "named", {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    )
    name = "2013-01-05-0123456789abcdef"
    first = sfn.start_execution(stateMachineArn=arn, name=name, input='{"n": 1}')["executionArn"]
    assert first.endswith(f":named:{name}")
    stack.execution(first)
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name=name, input='{"n": 2}')
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == [name]
