"""``flightpipe backfill`` over a range the pipeline already loaded once: every day with objects
runs again, a day without objects is skipped, a day whose file fails is reported with its cause
and the command to rerun it, and the rows reported are the fact table's."""

from __future__ import annotations

import re
from datetime import date

import psycopg

from flightpipe import cli
from flightpipe.commands.generate import generate_day
from tests.support.pipeline import finished, runs_of, upload

# A range no other test uploads to.
FIRST, LAST = date(2017, 6, 1), date(2017, 6, 5)
NO_OBJECTS, FAILING = date(2017, 6, 3), date(2017, 6, 5)
LOADED = [date(2017, 6, 1), date(2017, 6, 2), date(2017, 6, 4)]
MISSING_DEP_DELAY = b"Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,10397,12478,5\n"


def test_a_backfill_reruns_each_day_and_reports_loaded_failed_and_skipped_days(
    with_airports, local_stage, tmp_path, capsys
):
    stack = local_stage
    for day in LOADED:
        key = f"daily_flights/date={day}/flights.csv"
        generate_day(tmp_path / key, day, 300, seed=day.toordinal())
        execution = finished(stack, key, upload(stack, key, (tmp_path / key).read_bytes()))
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
    key = f"daily_flights/date={FAILING}/flights.csv"
    assert finished(stack, key, upload(stack, key, MISSING_DEP_DELAY))["status"] == "FAILED"
    runs_before = {day: len(runs_of(stack, str(day))) for day in LOADED}

    # `flightpipe backfill --stage local` as a person runs it, with this test's stack standing
    # in for the one `make local-up` deployed and wrote .local/stack.env for.
    capsys.readouterr()

    status = cli.main(["backfill", "--from", str(FIRST), "--to", str(LAST), "--window", "2"])

    output = capsys.readouterr().out
    assert status == 1, output
    assert "\r" not in output  # not a terminal: one line per day, as a CI log shows it
    progress = [line for line in output.splitlines() if re.match(r"\d{4}-\d\d-\d\d  [A-Z]", line)]
    assert len(progress) == 4, output
    assert sorted(line[:10] for line in progress) == [str(d) for d in (*LOADED, FAILING)]
    assert re.search(r"\[4/4 days done, 0 running, 1 failed, \d+:\d\d elapsed\]$", progress[-1])
    assert "days loaded   3: 2017-06-01..2017-06-02, 2017-06-04" in output
    assert "days failed   1\n  2017-06-05  FAILED  States.TaskFailed\n" in output
    assert re.search(r"    cause: .*missing required column DepDelay", output), output
    assert "    rerun: make replay STAGE=local DATE=2017-06-05\n" in output
    assert "days skipped  1: 2017-06-03 (no objects)" in output

    rows = int(re.search(r"^rows loaded   (\d+)$", output, re.MULTILINE).group(1))
    with psycopg.connect(stack.database_url) as conn:
        (in_table,) = conn.execute(
            "SELECT count(*) FROM airlines.daily_flights_fact WHERE flight_date = ANY(%s)",
            (LOADED,),
        ).fetchone()
    assert rows == in_table > 0
    assert {day: len(runs_of(stack, str(day))) for day in LOADED} == {
        day: count + 1 for day, count in runs_before.items()
    }
    pages = (
        stack.client("stepfunctions")
        .get_paginator("list_executions")
        .paginate(stateMachineArn=stack.pipeline.state_machine_arn)
    )
    started = [
        e["name"]
        for page in pages
        for e in page["executions"]
        if e["name"].startswith("backfill-2017-06-")
    ]
    assert sorted(name[len("backfill-") :][:10] for name in started) == [
        str(d) for d in (*LOADED, FAILING)
    ]
