"""Messy uploads through the whole local stack: what loads, what is quarantined, what fails."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.support.aws import read_json_lines
from tests.support.pipeline import finished, upload

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"
FILES = {
    # BOM, CRLF, every field quoted, columns reordered, unknown columns in the middle and at the
    # end, a trailing comma, -3.00, empty values, NA, an airport missing from the dimension.
    "2014-02-01": (
        '\ufeff"ArrDelay","Extra","DestAirportID","Carrier","OriginAirportID","DepDelay","More",\r\n'
        '"5","x","12478","AA","10397","75.00","y",\r\n'
        '"-3.00","x","12478","UA","10397","-3.00","y",\r\n'
        '"","x","12478","B6","10397","","y",\r\n'
        '"NA","x","12478","DL","10397","NA","y",\r\n'
        '"NA","x","99999999","WN","10397","61","y",\r\n'
    ),
    # a non-numeric delay and a truncated last line
    "2014-02-02": f"{HEADER}\nAA,10397,12478,abc,5\nAA,10397,12478,90,5\nUA,10397,124",
    "2014-02-03": f"{HEADER}\n",  # header only
    "2014-02-04": "",  # zero bytes
    "2014-02-05": "Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,10397,12478,5\n",
}


@pytest.fixture(scope="module")
def outcomes(with_airports):
    stack = with_airports
    etags = {
        day: upload(stack, f"daily_flights/date={day}/flights.csv", body.encode("utf-8"))
        for day, body in FILES.items()
    }
    return stack, {
        day: finished(stack, f"daily_flights/date={day}/flights.csv", etag)
        for day, etag in etags.items()
    }


def report(stack, execution) -> dict:
    job = json.loads(execution["output"])["job"]
    day = json.loads(execution["input"])["flight_date"]
    body = stack.client("s3").get_object(
        Bucket=stack.pipeline.data_bucket, Key=f"run-reports/date={day}/{job['id']}.json"
    )["Body"]
    return json.load(body)


def loaded(stack, day: str) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT carrier, dep_delay, arr_delay, arr_airport FROM airlines.daily_flights_fact "
            "WHERE flight_date = %s ORDER BY carrier",
            (day,),
        ).fetchall()


def counts(result: dict) -> tuple:
    return tuple(
        result[k]
        for k in (
            "rows_read",
            "rows_loaded",
            "rows_below_threshold",
            "rows_missing_delay",
            "rows_quarantined",
            "rows_unmatched_airports",
        )
    )


def test_a_messy_but_valid_file_loads_by_header_name(outcomes):
    stack, executions = outcomes
    execution = executions["2014-02-01"]
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert counts(report(stack, execution)) == (5, 2, 1, 2, 0, 1)
    assert loaded(stack, "2014-02-01") == [
        ("AA", 75, 5, "John F. Kennedy International"),
        ("WN", 61, None, None),
    ]


def test_unparseable_rows_are_quarantined_and_the_rest_loads(outcomes):
    stack, executions = outcomes
    execution = executions["2014-02-02"]
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    result = report(stack, execution)
    assert counts(result) == (3, 1, 0, 0, 2, 0)
    prefix = result["quarantine_prefix"]
    assert prefix == (
        f"s3://{stack.pipeline.data_bucket}/quarantine/date=2014-02-02/run={result['run_id']}/"
    )
    rows = read_json_lines(stack.client("s3"), prefix)
    assert [(r["line_number"], r["reason"], r["raw"]) for r in rows] == [
        (2, "DepDelay 'abc' is not a number", "AA,10397,12478,abc,5"),
        (4, "3 fields, the header has 5", "UA,10397,124"),
    ]
    assert loaded(stack, "2014-02-02") == [("AA", 90, 5, "John F. Kennedy International")]


def test_a_header_only_file_succeeds_with_zero_rows(outcomes):
    stack, executions = outcomes
    assert executions["2014-02-03"]["status"] == "SUCCEEDED"
    assert counts(report(stack, executions["2014-02-03"])) == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("day", "problem"),
    [
        ("2014-02-04", "empty file, no header line"),
        ("2014-02-05", "missing required column DepDelay"),
    ],
)
def test_a_file_without_header_or_column_fails_naming_the_problem(outcomes, day, problem):
    stack, executions = outcomes
    execution = executions[day]
    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    key = f"daily_flights/date={day}/flights.csv"
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key)
    assert problem in alert["body"]["Cause"]
    assert loaded(stack, day) == []
