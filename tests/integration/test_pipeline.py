"""The whole event-driven flow through the local stack: upload -> handler -> state machine ->
crawler -> job -> PostgreSQL -> notification."""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

SAMPLE = REPO / "sample_data"


def upload(stack, key: str, body: bytes) -> str:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.provisioned.data_bucket, Key=key, Body=body)
    return s3.head_object(Bucket=stack.provisioned.data_bucket, Key=key)["ETag"].strip('"')


def executions_for(stack, key: str) -> list[dict]:
    sfn = stack.client("stepfunctions")
    found = []
    for item in sfn.list_executions(stateMachineArn=stack.provisioned.state_machine_arn)[
        "executions"
    ]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"]).get("key") == key:
            found.append(described)
    return found


def finished(stack, key: str, etag: str) -> dict:
    def done():
        for execution in executions_for(stack, key):
            started_with = json.loads(execution["input"])
            if started_with["etag"] == etag and execution["status"] != "RUNNING":
                return stack.client("stepfunctions").describe_execution(
                    executionArn=execution["executionArn"]
                )
        return None

    return stack.wait_for(done, timeout=240, what=f"the execution for {key}")


def fact_rows(stack, day: str) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT carrier, dep_delay FROM airlines.daily_flights_fact WHERE flight_date = %s",
            (date.fromisoformat(day),),
        ).fetchall()


@pytest.fixture(scope="module")
def with_airports(stack):
    etag = upload(stack, "dim/airports.csv", (SAMPLE / "airports.csv").read_bytes())
    assert finished(stack, "dim/airports.csv", etag)["status"] == "SUCCEEDED"
    return stack


def test_upload_loads_rows_and_notifies_success_with_the_counts(with_airports):
    stack, day = with_airports, "2013-01-05"
    key = f"daily_flights/date={day}/flights.csv"
    etag = upload(stack, key, (SAMPLE / key).read_bytes())

    execution = finished(stack, key, etag)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert len(fact_rows(stack, day)) == 26
    alert = stack.alert(
        lambda a: (
            (a.get("body") or {}).get("input_object")
            == f"s3://{stack.provisioned.data_bucket}/{key}"
        )
    )
    assert alert["Subject"] == f"Flights {day} loaded: 26 delayed flights"
    counts = alert["body"]
    assert (
        counts["rows_read"],
        counts["rows_loaded"],
        counts["rows_below_threshold"],
        counts["rows_missing_delay"],
        counts["rows_quarantined"],
    ) == (720, 26, 691, 3, 0)
    assert counts["duration_seconds"] > 0 and counts["started_at"].endswith("Z")


def test_a_failing_job_sends_a_failure_notification_with_the_error(with_airports):
    stack, key = with_airports, "daily_flights/date=2013-01-06/flights.csv"
    etag = upload(stack, key, b"Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,10397,12478,5\n")

    execution = finished(stack, key, etag)

    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key)
    assert alert["Subject"] == f"Flight pipeline FAILED: {key}"
    assert alert["body"]["Error"] == "States.TaskFailed"
    assert "missing required column DepDelay" in alert["body"]["Cause"]
    assert alert["body"]["bucket"] == stack.provisioned.data_bucket


def test_a_duplicate_event_starts_one_run(with_airports):
    stack, day = with_airports, "2013-01-07"
    key = f"daily_flights/date={day}/flights.csv"
    body = (SAMPLE / key).read_bytes()
    first = upload(stack, key, body)
    second = upload(stack, key, body)
    assert first == second

    execution = finished(stack, key, first)

    assert execution["status"] == "SUCCEEDED"
    assert len(executions_for(stack, key)) == 1
    assert len(fact_rows(stack, day)) == 42


def test_warehouse_unreachable_fails_cleanly_and_replay_reprocesses_the_day(
    with_airports, monkeypatch
):
    from flightpipe.postgres import free_port
    from flightpipe.replay import replay

    stack, day = with_airports, "2013-01-04"
    key = f"daily_flights/date={day}/flights.csv"
    glue = stack.client("glue")
    name = stack.names.glue_connection
    connection = glue.get_connection(Name=name, HidePassword=False)["Connection"]
    good = {
        "Name": name,
        "ConnectionType": "JDBC",
        "ConnectionProperties": connection["ConnectionProperties"],
    }
    broken = {
        **good,
        "ConnectionProperties": {
            **good["ConnectionProperties"],
            "JDBC_CONNECTION_URL": f"jdbc:postgresql://127.0.0.1:{free_port()}/nowhere",
        },
    }
    glue.update_connection(Name=name, ConnectionInput=broken)
    try:
        etag = upload(stack, key, (SAMPLE / key).read_bytes())
        execution = finished(stack, key, etag)
    finally:
        glue.update_connection(Name=name, ConnectionInput=good)

    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key)
    assert (
        "Connection refused" in alert["body"]["Cause"]
        or "connection" in alert["body"]["Cause"].lower()
    )
    assert fact_rows(stack, day) == []

    for variable, value in (
        ("AWS_ENDPOINT_URL", stack.settings.endpoint_url),
        ("DATA_BUCKET", stack.provisioned.data_bucket),
        ("STATE_MACHINE_ARN", stack.provisioned.state_machine_arn),
        ("AWS_DEFAULT_REGION", stack.settings.region),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ):
        monkeypatch.setenv(variable, value)
    assert replay(date.fromisoformat(day)) == 0
    assert len(fact_rows(stack, day)) == 47
