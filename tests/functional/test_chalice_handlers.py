"""The Chalice handlers through chalice.test.Client with generated events; AWS is moto.

The handlers' logic as Lambda runs it, one event at a time, with the state machine and the
topic stood in by moto (its Step Functions keeps executions by name, as the handler's
duplicate check needs). The deployed functions, their rules and their environment are compared
with the template on LocalStack by tests/integration/test_template_parity.py.
"""

from __future__ import annotations

import json
import sys
from urllib.parse import quote_plus

import boto3
import pytest

from flightpipe.paths import REPO

APP_DIR = REPO / "chalice_app"
# The stage local's names (infra/pipeline.yaml: flightpipe-${Stage}-...); any would do.
BUCKET = "flightpipe-local-databucket"
STATE_MACHINE = "flightpipe-local-pipeline"
ALERTS_TOPIC = "flightpipe-local-alerts"
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@pytest.fixture
def app(moto, monkeypatch):
    monkeypatch.syspath_prepend(str(APP_DIR))
    sfn, sns, sqs = boto3.client("stepfunctions"), boto3.client("sns"), boto3.client("sqs")
    machine = sfn.create_state_machine(
        name=STATE_MACHINE,
        definition=json.dumps(DEFINITION),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    topic = sns.create_topic(Name=ALERTS_TOPIC)["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("DATA_BUCKET", BUCKET)
    monkeypatch.setenv("STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("ALERTS_TOPIC_ARN", topic)
    monkeypatch.setenv("STAGE", "local")
    for name in [m for m in sys.modules if m == "app" or m.startswith("chalicelib")]:
        monkeypatch.delitem(sys.modules, name)
    import app as chalice_app
    from chalicelib.settings import settings

    settings.cache_clear()
    yield chalice_app.app, sfn, machine, sqs, queue
    settings.cache_clear()


def upload_event(
    client, key: str, etag: str = "abc123", bucket: str = BUCKET, version: str | None = None
) -> dict:
    obj = {"key": key, "size": 10, "etag": etag}
    if version is not None:
        obj["version-id"] = version
    return client.events.generate_cw_event(
        source="aws.s3",
        detail_type="Object Created",
        detail={
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
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
        "version_id": None,
        "flight_date": "2013-01-01",
    }
    assert execution["name"].startswith("2013-01-01-")


def test_each_object_version_runs_once_identical_bytes_included(app):
    """In a versioned bucket (the data bucket is one) S3 puts the object's version id in the
    event: a second delivery of the same event starts nothing, a new upload of the same bytes
    (same ETag, new version) runs, as a failed day must be able to."""
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    key = "daily_flights/date=2013-01-01/flights.csv"
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, key, "same", version="v1"))
        client.lambda_.invoke("on_object_created", upload_event(client, key, "same", version="v1"))
        assert len(executions(sfn, machine)) == 1
        client.lambda_.invoke("on_object_created", upload_event(client, key, "same", version="v2"))
    started = [
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in executions(sfn, machine)
    ]
    assert sorted(s["version_id"] for s in started) == ["v1", "v2"]


def test_without_versioning_a_duplicate_event_starts_nothing_and_a_corrected_upload_runs(app):
    """A bucket that is not versioned sends no version id (or "null" once versioning was
    suspended): the ETag stands in."""
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    key = "daily_flights/date=2013-01-01/flights.csv"
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, key, "first"))
        client.lambda_.invoke(
            "on_object_created", upload_event(client, key, "first", version="null")
        )
        assert len(executions(sfn, machine)) == 1
        client.lambda_.invoke("on_object_created", upload_event(client, key, "corrected"))
    assert len(executions(sfn, machine)) == 2


@pytest.mark.parametrize(
    "name",
    ["x';DROP TABLE t", "100%s done", "semi;colon", "two\nlines", "Flights 2013 \u00e9t\u00e9"],
)
def test_any_visible_csv_name_starts_a_run_with_the_key_intact(app, name):
    """Every visible .csv object of a day is part of the day's load, so each one starts a run;
    the key reaches SQL only as a JDBC parameter (see test_day_load)."""
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


def started_keys(sfn, machine) -> list[str]:
    return sorted(
        json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])["key"]
        for e in executions(sfn, machine)
    )


@pytest.mark.parametrize("name", ["a b+c%d", "100% +1", "x+y"])
def test_the_object_is_found_whether_or_not_the_event_url_encodes_its_key(app, name):
    """AWS does not document whether S3's EventBridge events URL-encode the key (S3's classic
    notifications do: "red flower.jpg" arrives as "red+flower.jpg"): the run gets the key as
    stored either way, told by the event's ETag."""
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    key = f"daily_flights/date=2013-01-01/{name}.csv"
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")["ETag"].strip('"')
    with Client(chalice_app) as client:
        client.lambda_.invoke("on_object_created", upload_event(client, key, etag, version="v1"))
        encoded = quote_plus(key, safe="/=")
        client.lambda_.invoke(
            "on_object_created", upload_event(client, encoded, etag, version="v2")
        )
    assert started_keys(sfn, machine) == [key, key]


def test_of_two_objects_a_key_could_name_the_one_with_the_events_etag_runs(app):
    """ "a+b.csv" is both a stored key and the encoding of "a b.csv": with both stored, the
    event's ETag says which one it is about."""
    from chalice.test import Client

    chalice_app, sfn, machine, _, _ = app
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    plus, space = "daily_flights/date=2013-01-01/a+b.csv", "daily_flights/date=2013-01-01/a b.csv"
    tags = {
        k: s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())["ETag"].strip('"')
        for k in (plus, space)
    }
    with Client(chalice_app) as client:
        client.lambda_.invoke(
            "on_object_created", upload_event(client, plus, tags[plus], version="1")
        )
        client.lambda_.invoke(
            "on_object_created", upload_event(client, plus, tags[space], version="2")
        )
    assert started_keys(sfn, machine) == sorted([plus, space])


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
            "input": json.dumps(
                {
                    "kind": "day",
                    "bucket": BUCKET,
                    "key": "daily_flights/date=2013-01-01/f.csv",
                    "flight_date": "2013-01-01",
                }
            ),
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
    assert sorted(b["Subject"] for b in bodies) == [
        "Flight pipeline FAILED: day 2013-01-01",
        "Flight pipeline TIMED_OUT: day 2013-01-01",
    ]
    assert all(
        json.loads(b["Message"])["replay"] == "make replay STAGE=local DATE=2013-01-01"
        for b in bodies
    )
    assert all(
        json.loads(b["Message"])["input_object"]
        == f"s3://{BUCKET}/daily_flights/date=2013-01-01/f.csv"
        for b in bodies
    )


def test_an_alert_for_a_hostile_key_has_a_subject_sns_accepts_and_the_key_in_the_message(app):
    """The alert's subject names the day, never the key: a key may be 1,024 bytes of any UTF-8,
    line breaks included, and SNS refuses such a Subject (moto does not, hence the check with
    the rule the local stack's SNS applies, flightpipe_localstack.sns)."""
    from chalice.test import Client
    from flightpipe_localstack.sns import subject_problem

    chalice_app, _, machine, sqs, queue = app
    key = "daily_flights/date=2013-01-02/" + "\u00e9\n" * 300 + ".csv"
    event_input = {"kind": "day", "bucket": BUCKET, "key": key, "flight_date": "2013-01-02"}
    with Client(chalice_app) as client:
        event = status_event(client, machine, "ABORTED", None)
        event["detail"]["input"] = json.dumps(event_input)
        client.lambda_.invoke("on_execution_failed", event)
    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["Subject"] == "Flight pipeline ABORTED: day 2013-01-02"
    assert subject_problem(body["Subject"]) is None
    assert json.loads(body["Message"])["input_object"] == f"s3://{BUCKET}/{key}"


def test_an_alert_for_an_execution_without_a_day_names_the_airports_or_the_execution(app):
    from chalice.test import Client

    chalice_app, _, machine, sqs, queue = app
    with Client(chalice_app) as client:
        event = status_event(client, machine, "TIMED_OUT", None)
        event["detail"]["input"] = json.dumps(
            {"kind": "airports", "bucket": BUCKET, "key": "dim/airports.csv", "flight_date": None}
        )
        client.lambda_.invoke("on_execution_failed", event)
        event = status_event(client, machine, "TIMED_OUT", None)
        event["detail"]["input"] = "{}"
        client.lambda_.invoke("on_execution_failed", event)
    bodies = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    assert sorted(b["Subject"] for b in bodies) == [
        "Flight pipeline TIMED_OUT: airports dimension",
        "Flight pipeline TIMED_OUT: run-1",
    ]
    assert [json.loads(b["Message"])["replay"] for b in bodies] == [None, None]
