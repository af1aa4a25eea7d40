"""The whole event-driven flow through the local stack: upload -> handler -> state machine ->
crawler -> job -> PostgreSQL -> notification."""

from __future__ import annotations

from datetime import date

import psycopg

from flightpipe.paths import REPO
from tests.support.pipeline import (
    executions_for,
    fact_rows,
    finished,
    loaded_day,
    runs_of,
    upload,
    warehouse_unreachable,
)

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
            (a.get("body") or {}).get("input_object") == f"s3://{stack.pipeline.data_bucket}/{key}"
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
    assert alert["Subject"] == f"Flight pipeline FAILED: day {day}"
    assert alert["body"]["replay"] == f"make replay STAGE=local DATE={day}"
    assert alert["body"]["Error"] == "States.TaskFailed"
    assert "missing required column DepDelay" in alert["body"]["Cause"]
    assert alert["body"]["bucket"] == stack.pipeline.data_bucket
    assert (fact_rows(stack, day), runs_of(stack, day)) == (before.rows, before.runs)


def test_the_same_file_uploaded_twice_runs_once_per_object_version(with_airports):
    """Not versioned, both uploads are one object (same key and ETag): the second event starts
    nothing. Versioned, as deployed, each upload is a version and runs once. Either way every
    run succeeds and the day holds one copy of its rows."""
    stack, day = with_airports, "2013-01-07"
    key = f"daily_flights/date={day}/flights.csv"
    body = (SAMPLE / key).read_bytes()
    s3, bucket = stack.client("s3"), stack.pipeline.data_bucket
    uploaded = [s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId") for _ in "12"]
    versions = {v for v in uploaded if v not in (None, "null")}
    expected = len(versions) or 1

    def ended() -> list[dict] | None:
        runs = executions_for(stack, key)
        if len(runs) == expected and all(r["status"] != "RUNNING" for r in runs):
            return runs
        return None

    runs = stack.wait_for(ended, timeout=300, what=f"{expected} execution(s) for {key}")
    assert [r["status"] for r in runs] == ["SUCCEEDED"] * expected
    stack.quiesce()
    assert len(executions_for(stack, key)) == expected
    assert len(fact_rows(stack, day)) == 42


def test_warehouse_unreachable_fails_cleanly_and_replay_reprocesses_the_day(
    with_airports, local_stage
):
    from flightpipe.commands.replay import replay

    stack, day = with_airports, "2013-01-04"
    key = f"daily_flights/date={day}/flights.csv"
    before = loaded_day(
        stack, day, "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nAA,10397,12478,61,0\n"
    )
    with warehouse_unreachable(stack):
        etag = upload(stack, key, (SAMPLE / key).read_bytes())
        execution = finished(stack, key, etag)

    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key)
    assert (
        "Connection refused" in alert["body"]["Cause"]
        or "connection" in alert["body"]["Cause"].lower()
    )
    assert (fact_rows(stack, day), runs_of(stack, day)) == (before.rows, before.runs)

    # `make replay STAGE=local DATE=...` as the notification says, reading the stack's stack.env.
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
    assert (f"s3://{stack.pipeline.data_bucket}/{key}",) in recorded
    assert len(fact_rows(stack, day)) == 51
