"""Runs of the same day through the local stack: they never interleave, and no file is lost."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import psycopg
import pytest

from flightpipe.e2e import FACT_COLUMNS, expected_fact_rows
from tests.integration.helpers import SAMPLE, finished, runs_of, upload

pytestmark = pytest.mark.integration


def day_rows(stack, day: str) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            f"SELECT {', '.join(FACT_COLUMNS)} FROM airlines.daily_flights_fact "
            "WHERE flight_date = %s",
            (date.fromisoformat(day),),
        ).fetchall()


def expected_for(tmp_path, day: str, files: dict[str, bytes]) -> list[tuple]:
    """DuckDB over the same files, laid out as the day's partition."""
    folder = tmp_path / "daily_flights" / f"date={day}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, body in files.items():
        (folder / name).write_bytes(body)
    return expected_fact_rows(str(folder / "*.csv"), SAMPLE / "airports.csv")


def runs_of_day(stack, day: str) -> list[dict]:
    glue = stack.client("glue")
    return [
        run
        for run in glue.get_job_runs(JobName=stack.pipeline.job)["JobRuns"]
        if (run.get("Arguments") or {}).get("--flight_date") == day
    ]


def test_two_files_of_one_day_uploaded_at_once_are_both_loaded(with_airports, tmp_path):
    stack, day = with_airports, "2014-04-01"
    files = {
        "morning.csv": (SAMPLE / "daily_flights/date=2013-01-02/flights.csv").read_bytes(),
        "evening.csv": (SAMPLE / "daily_flights/date=2013-01-03/flights.csv").read_bytes(),
    }

    def put(name: str) -> tuple[str, str]:
        key = f"daily_flights/date={day}/{name}"
        return key, upload(stack, key, files[name])

    with ThreadPoolExecutor(max_workers=2) as pool:
        uploads = list(pool.map(put, files))

    assert [finished(stack, key, etag)["status"] for key, etag in uploads] == ["SUCCEEDED"] * 2
    expected = expected_for(tmp_path, day, files)
    assert expected
    assert sorted(day_rows(stack, day), key=repr) == sorted(expected, key=repr)


def test_a_run_lists_the_day_only_after_the_earlier_run_of_that_day_ended(with_airports, tmp_path):
    """The first run is held in its load transaction by a lock the test takes; the second run
    of the same day must wait for it before it even lists the day's objects."""
    stack, day = with_airports, "2014-04-02"
    first_file = (SAMPLE / "daily_flights/date=2013-01-04/flights.csv").read_bytes()
    second_file = (SAMPLE / "daily_flights/date=2013-01-05/flights.csv").read_bytes()
    stack.quiesce()
    holder = psycopg.connect(stack.database_url)
    try:
        holder.execute("LOCK airlines.daily_flights_fact")  # until the rollback below
        first = upload(stack, f"daily_flights/date={day}/first.csv", first_file)
        stack.wait_for(lambda: len(load_waiters(stack)) == 1, 120, "the first run's load")
        second = upload(stack, f"daily_flights/date={day}/second.csv", second_file)
        waiting_line = stack.wait_for(
            lambda: waiting_log_line(stack, day), 120, "the second run to wait for the first"
        )
        time.sleep(1.0)  # the second run must still be waiting, not loading
        assert len(load_waiters(stack)) == 1
    finally:
        holder.rollback()
        holder.close()

    for name, etag in (("first.csv", first), ("second.csv", second)):
        assert finished(stack, f"daily_flights/date={day}/{name}", etag)["status"] == "SUCCEEDED"
    first_run, second_run = sorted(runs_of_day(stack, day), key=lambda r: r["StartedOn"])
    assert first_run["Id"] in waiting_line
    assert [run[0] for run in runs_of(stack, day)] == [first_run["Id"], second_run["Id"]]
    expected = expected_for(tmp_path, day, {"first.csv": first_file, "second.csv": second_file})
    assert sorted(day_rows(stack, day), key=repr) == sorted(expected, key=repr)


def load_waiters(stack) -> list[tuple]:
    """Loads waiting on the fact table's lock: in their staging (``CREATE TABLE ... (LIKE``
    reads the fact table) or in their swap (``LOCK``)."""
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE (query LIKE 'LOCK airlines.%%' OR query LIKE 'CREATE TABLE airlines.%%') "
            "AND wait_event_type = 'Lock'"
        ).fetchall()


def waiting_log_line(stack, day: str) -> str | None:
    for run in runs_of_day(stack, day):
        log = stack.settings.log_dir / "glue-jobs" / f"{run['Id']}.log"
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                if f"waiting for earlier runs of --flight_date {day}" in line:
                    return line
    return None
