"""``make replay STAGE=<stage> DATE=...``: a deployed stage's day is replayed on that stage's
pipeline, found from its stack's outputs, whatever the environment or the local stack name.
AWS is moto (CloudFormation's stack outputs, S3, Step Functions)."""

from __future__ import annotations

import json

import boto3

from flightpipe import cli
from flightpipe.settings import Pipeline

DAY_KEY = "daily_flights/date=2013-01-01/flights.csv"


def deployed_stage(stage: str) -> Pipeline:
    """A bucket with a day's object, a state machine, and a stack ``flightpipe-<stage>`` whose
    outputs name them, as infra/pipeline.yaml's do."""
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    bucket = f"flightpipe-{stage}-databucket"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=DAY_KEY, Body=b"Carrier\n")
    machine = sfn.create_state_machine(
        name=f"flightpipe-{stage}-pipeline",
        definition=json.dumps(
            {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        ),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    outputs = {
        "DataBucket": bucket,
        "StateMachineArn": machine,
        "AlertsTopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
        "HandlerFailuresQueueUrl": "https://sqs/failures",
        "GlueDatabaseName": "db",
        "CrawlerName": "crawler",
        "DelayedFlightsJobName": "job",
        "LoadAirportsJobName": "airports",
        "WarehouseConnectionName": "warehouse",
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName=f"flightpipe-{stage}", TemplateBody=json.dumps(template)
    )
    return Pipeline.from_outputs(outputs)


def test_a_stage_is_replayed_on_its_own_pipeline_not_the_environments(moto, monkeypatch):
    dev = deployed_stage("dev")
    local = deployed_stage("local")
    monkeypatch.setenv("DATA_BUCKET", local.data_bucket)
    monkeypatch.setenv("STATE_MACHINE_ARN", local.state_machine_arn)

    assert cli.main(["replay", "--date", "2013-01-01", "--stage", "dev", "--no-wait"]) == 0

    sfn = boto3.client("stepfunctions")
    [started] = sfn.list_executions(stateMachineArn=dev.state_machine_arn)["executions"]
    described = json.loads(sfn.describe_execution(executionArn=started["executionArn"])["input"])
    assert (described["bucket"], described["key"]) == (dev.data_bucket, DAY_KEY)
    assert sfn.list_executions(stateMachineArn=local.state_machine_arn)["executions"] == []


def test_a_stage_without_its_stack_is_named(moto, capsys):
    assert cli.main(["replay", "--date", "2013-01-01", "--stage", "prod", "--no-wait"]) == 1
    assert "flightpipe-prod" in capsys.readouterr().err
