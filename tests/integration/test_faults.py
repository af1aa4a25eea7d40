"""Faults, corrections, dimension problems and stray keys, through the local stack."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest

from tests.support.pipeline import (
    SAMPLE,
    executions_for,
    fact_rows,
    finished,
    function_log,
    function_name,
    handler_logged,
    loaded_day,
    runs_of,
    upload,
)

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"


def test_a_corrected_reupload_replaces_the_day(with_airports):
    stack, day = with_airports, "2014-03-01"
    key = f"daily_flights/date={day}/flights.csv"
    first = upload(stack, key, f"{HEADER}\nAA,10397,12478,61,0\nUA,10397,12478,62,0\n".encode())
    assert finished(stack, key, first)["status"] == "SUCCEEDED"
    second = upload(stack, key, f"{HEADER}\nB6,10397,12478,99,0\n".encode())
    assert finished(stack, key, second)["status"] == "SUCCEEDED"
    assert fact_rows(stack, day) == [("B6", 99)]


def test_a_failing_crawl_is_reported_with_its_cause_and_the_day_is_unchanged(with_airports):
    stack, day = with_airports, "2014-03-02"
    key = f"daily_flights/date={day}/flights.csv"
    before = loaded_day(stack, day, f"{HEADER}\nAA,10397,12478,61,0\nUA,10397,12478,75,3\n")
    glue = stack.client("glue")
    stack.quiesce()
    with catalog_restored_after(stack):
        glue.delete_database(Name=stack.pipeline.glue_database)
        etag = upload(stack, key, f"{HEADER}\nDL,10397,12478,99,0\n".encode())
        execution = finished(stack, key, etag)
    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    alert = stack.alert(
        lambda a: (a.get("body") or {}).get("key") == key and "Error" in (a.get("body") or {})
    )
    assert alert["body"]["Error"] == "CrawlerFailed"
    assert f"database {stack.pipeline.glue_database} does not exist" in alert["body"]["Cause"]
    assert fact_rows(stack, day) == before.rows
    assert runs_of(stack, day) == before.runs


@contextlib.contextmanager
def catalog_restored_after(stack) -> Iterator[None]:
    """The flights table and its partitions put back as they were after the block: the crawler
    crawls new folders only, and such a crawl adds no table (AWS Glue Developer Guide,
    "Scheduling incremental crawls for adding new partitions"), so later tests would otherwise
    find no catalog."""
    glue, database = stack.client("glue"), stack.pipeline.glue_database
    table = glue.get_table(DatabaseName=database, Name="daily_flights")["Table"]
    partitions = [
        {key: p[key] for key in ("Values", "StorageDescriptor", "Parameters") if key in p}
        for page in glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName="daily_flights"
        )
        for p in page["Partitions"]
    ]
    kept = ("Name", "StorageDescriptor", "PartitionKeys", "TableType", "Parameters")
    try:
        yield
    finally:
        glue.create_database(DatabaseInput={"Name": database})
        glue.create_table(DatabaseName=database, TableInput={k: table[k] for k in kept})
        for start in range(0, len(partitions), 100):
            glue.batch_create_partition(
                DatabaseName=database,
                TableName="daily_flights",
                PartitionInputList=partitions[start : start + 100],
            )


def dimension(stack) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT count(*), min(airport_id) FROM airlines.airports_dim"
        ).fetchall()


def test_a_refused_dimension_is_notified_and_later_days_still_load(with_airports):
    """A dimension with a duplicated airport_id is refused (naming the id), the warehouse keeps
    the previous one, and the days uploaded after it load against that previous one."""
    stack, day = with_airports, "2014-03-04"
    before = dimension(stack)
    body = (SAMPLE / "airports.csv").read_bytes() + b'10397,"Atlanta, again",GA,Duplicate\n'
    etag = upload(stack, "dim/airports.csv", body)
    try:
        execution = finished(stack, "dim/airports.csv", etag)
        assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
        alert = stack.alert(
            lambda a: (
                (a.get("body") or {}).get("key") == "dim/airports.csv"
                and "Error" in (a.get("body") or {})
            )
        )
        assert "duplicate airport_id 10397" in alert["body"]["Cause"]
        assert dimension(stack) == before

        key = f"daily_flights/date={day}/flights.csv"
        later = upload(stack, key, f"{HEADER}\nAA,10397,12478,61,0\n".encode())
        assert finished(stack, key, later)["status"] == "SUCCEEDED"
        with psycopg.connect(stack.database_url) as conn:
            assert conn.execute(
                "SELECT dep_city, arr_city FROM airlines.daily_flights_fact WHERE flight_date = %s",
                (day,),
            ).fetchall() == [("Atlanta", "New York")]
    finally:
        restored = upload(stack, "dim/airports.csv", (SAMPLE / "airports.csv").read_bytes())
        assert finished(stack, "dim/airports.csv", restored)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "key",
    [
        "daily_flights/date=2014-02-30/flights.csv",
        "daily_flights/date=2014-03-03/notes.txt",
    ],
)
def test_keys_outside_the_layout_start_nothing_and_are_logged(with_airports, key):
    """The handler says in its log (CloudWatch Logs, as on AWS) which upload it ignored."""
    stack = with_airports
    upload(stack, key, f"{HEADER}\nAA,10397,12478,61,0\n".encode())
    handler_logged(stack, "OnObjectCreated", f"ignored: s3://{stack.pipeline.data_bucket}/{key}")
    assert executions_for(stack, key) == []


def test_keys_outside_the_rule_never_reach_the_handler(with_airports):
    """The EventBridge rule only matches daily_flights/ and dim/: other keys start nothing and
    never reach the handler. An upload the rule matches, made after, shows the handler has
    taken the events of that time."""
    stack, key = with_airports, "elsewhere/date=2014-03-03/flights.csv"
    later = "daily_flights/date=2014-03-31/after-elsewhere.txt"  # ignored by the handler
    upload(stack, key, f"{HEADER}\nAA,10397,12478,61,0\n".encode())
    upload(stack, later, b"x")
    handler_logged(stack, "OnObjectCreated", f"ignored: s3://{stack.pipeline.data_bucket}/{later}")
    stack.quiesce()
    assert executions_for(stack, key) == []
    logged = function_log(stack, function_name(stack, "OnObjectCreated"))
    assert not [m for m in logged if f"s3://{stack.pipeline.data_bucket}/{key}" in m]
