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
