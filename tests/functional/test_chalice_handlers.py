"""The Chalice handlers through chalice.test.Client with generated events; AWS is moto."""

from __future__ import annotations

import json
import sys

import boto3
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.functional

APP_DIR = REPO / "chalice_app"
BUCKET = "flightpipe-data"
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@pytest.fixture
def app(moto, monkeypatch):
    monkeypatch.syspath_prepend(str(APP_DIR))
    sfn, sns, sqs = boto3.client("stepfunctions"), boto3.client("sns"), boto3.client("sqs")
    machine = sfn.create_state_machine(
        name="flightpipe-pipeline",
        definition=json.dumps(DEFINITION),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    topic = sns.create_topic(Name="flightpipe-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    for name in [m for m in sys.modules if m == "app" or m.startswith("chalicelib")]:
        monkeypatch.delitem(sys.modules, name)
    import app as chalice_app
    from chalicelib.settings import settings

    settings.cache_clear()
    yield chalice_app.app, sfn, machine, sqs, queue
    settings.cache_clear()


def upload_event(client, key: str, etag: str = "abc123", bucket: str = BUCKET) -> dict:
    return client.events.generate_cw_event(
        source="aws.s3",
        detail_type="Object Created",
        detail={
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 10, "etag": etag},
            "reason": "PutObject",
        },
        resources=[f"arn:aws:s3:::{bucket}"],
        region="us-east-1",
    )


def executions(sfn, machine) -> list[dict]:
    return sfn.list_executions(stateMachineArn=machine)["executions"]


def test_a_day_upload_starts_one_execution_for_that_object(app):
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    with Client(chalice_app) as client:
        client.lambda_.invoke(
            "on_object_created", upload_event(client, "daily_flights/date=2013-01-01/flights.csv")
        )
    [execution] = executions(sfn, machine)
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == {
        "kind": "day",
        "bucket": BUCKET,
        "key": "daily_flights/date=2013-01-01/flights.csv",
        "etag": "abc123",
        "flight_date": "2013-01-01",
    }
    assert execution["name"].startswith("2013-01-01-")


def test_a_duplicate_event_starts_nothing_and_a_corrected_upload_runs(app):
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    key = "daily_flights/date=2013-01-01/flights.csv"
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, key, "first"))
        client.lambda_.invoke("on_object_created", upload_event(client, key, "first"))
        assert len(executions(sfn, machine)) == 1
        client.lambda_.invoke("on_object_created", upload_event(client, key, "corrected"))
    assert len(executions(sfn, machine)) == 2


@pytest.mark.parametrize(
    "name",
    ["x';DROP TABLE t", "100%s done", "semi;colon", "two\nlines", "Flights 2013 \u00e9t\u00e9"],
)
def test_any_visible_csv_name_starts_a_run_with_the_key_intact(app, name):
    """Every visible .csv object of a day is part of the day's load, so each one starts a run;
    the key reaches SQL only through day_load.text (see test_day_load)."""
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    key = f"daily_flights/date=2013-01-01/{name}.CSV"
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, key))
    [execution] = executions(sfn, machine)
    started_with = json.loads(
        sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )
    assert (started_with["key"], started_with["flight_date"]) == (key, "2013-01-01")


def test_the_airports_dimension_starts_a_reload(app):
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, "dim/airports.csv"))
    [execution] = executions(sfn, machine)
    assert (
        json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["kind"]
        == "airports"
    )


@pytest.mark.parametrize(
    "key",
    [
        "daily_flights/date=2013-02-30/flights.csv",  # not a calendar date
        "daily_flights/date=2013-1-1/flights.csv",  # not YYYY-MM-DD
        "daily_flights/flights.csv",  # no partition
        "daily_flights/date=2013-01-01/flights.json",  # not CSV
        "daily_flights/date=2013-01-01/_temporary.csv",  # hidden, as Hive and Glue skip it
        "daily_flights/date=2013-01-01/.flights.csv",  # hidden
        "other/date=2013-01-01/flights.csv",  # outside the layout
        "quarantine/date=2013-01-01/run=x/rows.jsonl",  # the pipeline's own output
    ],
)
def test_keys_outside_the_layout_are_ignored_with_a_log_line(app, key, caplog):
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, key))
    assert executions(sfn, machine) == []
    assert any(
        key in record.getMessage() and "ignored" in record.getMessage() for record in caplog.records
    )


def test_another_bucket_is_ignored(app):
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    with Client(chalice_app) as client:
        client.lambda_.invoke(
            "on_object_created",
            upload_event(client, "daily_flights/date=2013-01-01/f.csv", bucket="other"),
        )
    assert executions(sfn, machine) == []


def status_event(client, machine: str, status: str, error: str | None) -> dict:
    return client.events.generate_cw_event(
        source="aws.states",
        detail_type="Step Functions Execution Status Change",
        detail={
            "executionArn": f"{machine.replace(':stateMachine:', ':execution:')}:run-1",
            "stateMachineArn": machine,
            "name": "run-1",
            "status": status,
            "input": json.dumps({"bucket": BUCKET, "key": "daily_flights/date=2013-01-01/f.csv"}),
            "error": error,
            "cause": "the cause" if error else None,
        },
        resources=[],
        region="us-east-1",
    )


def test_failures_the_state_machine_did_not_report_are_alerted(app):
    from chalice.test import Client

    chalice_app, _, machine, sqs, queue = app
    with Client(chalice_app) as client:
        client.lambda_.invoke(
            "on_execution_failed", status_event(client, machine, "TIMED_OUT", None)
        )
        client.lambda_.invoke(
            "on_execution_failed", status_event(client, machine, "FAILED", "PipelineFailed")
        )
        client.lambda_.invoke(
            "on_execution_failed", status_event(client, machine, "FAILED", "States.Runtime")
        )
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    messages = sorted(
        (json.loads(b["Message"])["status"], json.loads(b["Message"])["error"]) for b in bodies
    )
    assert messages == [("FAILED", "States.Runtime"), ("TIMED_OUT", "TIMED_OUT")]
    assert all(b["Subject"].startswith("Flight pipeline ") for b in bodies)
    assert all(
        json.loads(b["Message"])["input_object"]
        == f"s3://{BUCKET}/daily_flights/date=2013-01-01/f.csv"
        for b in bodies
    )
