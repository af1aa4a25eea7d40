"""The whole event-driven flow through the local stack: upload -> handler -> state machine ->
crawler -> job -> PostgreSQL -> notification."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from tests.conftest import REPO
from tests.integration.helpers import (
    executions_for,
    fact_rows,
    finished,
    loaded_day,
    runs_of,
    upload,
)

pytestmark = pytest.mark.integration

SAMPLE = REPO / "sample_data"


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


def test_a_failing_job_is_notified_with_its_error_and_the_day_is_unchanged(with_airports):
    stack, day = with_airports, "2013-01-06"
    key = f"daily_flights/date={day}/flights.csv"
    before = loaded_day(stack, day, (SAMPLE / key).read_bytes())
    etag = upload(stack, key, b"Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,10397,12478,5\n")

    execution = finished(stack, key, etag)

    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key)
    assert alert["Subject"] == f"Flight pipeline FAILED: {key}"
    assert alert["body"]["Error"] == "States.TaskFailed"
    assert "missing required column DepDelay" in alert["body"]["Cause"]
    assert alert["body"]["bucket"] == stack.provisioned.data_bucket
    assert (fact_rows(stack, day), runs_of(stack, day)) == (before.rows, before.runs)


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
    before = loaded_day(
        stack, day, "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nAA,10397,12478,61,0\n"
    )
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
    assert (fact_rows(stack, day), runs_of(stack, day)) == (before.rows, before.runs)

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


def test_a_key_the_redshift_connector_would_mangle_loads_and_is_recorded_exactly(with_airports):
    """`;` splits a connector action, `%s` makes it String.format the action, a quote or a line
    break breaks a SQL literal: the key still reaches the run table exactly."""
    stack, day = with_airports, "2013-01-01"
    key = f"daily_flights/date={day}/it's 100%s; done\n(2).csv"
    etag = upload(stack, key, (SAMPLE / f"daily_flights/date={day}/flights.csv").read_bytes())

    execution = finished(stack, key, etag)

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    with psycopg.connect(stack.database_url) as conn:
        recorded = conn.execute(
            "SELECT input_object FROM airlines.pipeline_runs WHERE flight_date = %s",
            (date.fromisoformat(day),),
        ).fetchall()
    assert (f"s3://{stack.provisioned.data_bucket}/{key}",) in recorded
    assert len(fact_rows(stack, day)) == 51
