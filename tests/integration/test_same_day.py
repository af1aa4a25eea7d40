"""Runs of the same day through the local stack: they never interleave, and no file is lost."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import psycopg

from flightpipe.commands.e2e import FACT_COLUMNS, expected_fact_rows
from tests.support.pipeline import SAMPLE, executions_for, finished, runs_of, upload


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


@contextlib.contextmanager
def first_run_held(stack, day: str, body: bytes) -> Iterator[tuple[str, dict]]:
    """Within it, the day's first run (of ``first.csv``, whose ETag and job run it yields) is
    held in its load by a lock the test takes on the fact table; released on leaving."""
    stack.quiesce()
    holder = psycopg.connect(stack.database_url)
    try:
        holder.execute("LOCK airlines.daily_flights_fact")  # until the rollback below
        etag = upload(stack, f"daily_flights/date={day}/first.csv", body)
        stack.wait_for(lambda: len(load_waiters(stack)) == 1, 120, "the first run's load")
        (run,) = runs_of_day(stack, day)
        yield etag, run
    finally:
        holder.rollback()
        holder.close()


def test_an_upload_of_a_day_being_loaded_waits_in_the_state_machine_not_in_a_job_slot(
    with_airports, tmp_path
):
    """The first run of the day is held in its load by a lock the test takes. The second
    upload's execution asks whether the day is free (WaitForTheDay), is told which run is
    active, and starts no job run until that run has ended; then it loads both files."""
    stack, day = with_airports, "2014-04-02"
    first_file = (SAMPLE / "daily_flights/date=2013-01-04/flights.csv").read_bytes()
    second_file = (SAMPLE / "daily_flights/date=2013-01-05/flights.csv").read_bytes()
    with first_run_held(stack, day, first_file) as (first, first_run):
        second = upload(stack, f"daily_flights/date={day}/second.csv", second_file)
        busy = stack.wait_for(
            lambda: day_busy_answers(stack, f"daily_flights/date={day}/second.csv"),
            120,
            "the second execution to be told the day is busy",
        )
        assert f"day {day}: run {first_run['Id']} (RUNNING)" in busy[0]
        time.sleep(1.0)  # still waiting in the state machine: no second run, no second load
        assert [run["Id"] for run in runs_of_day(stack, day)] == [first_run["Id"]]
        assert len(load_waiters(stack)) == 1

    for name, etag in (("first.csv", first), ("second.csv", second)):
        assert finished(stack, f"daily_flights/date={day}/{name}", etag)["status"] == "SUCCEEDED"
    ended, second_run = sorted(runs_of_day(stack, day), key=lambda r: r["StartedOn"])
    assert second_run["StartedOn"] >= ended["CompletedOn"]
    assert not waiting_log_line(stack, day)  # the job itself never had to wait
    assert [run[0] for run in runs_of(stack, day)] == [ended["Id"], second_run["Id"]]
    expected = expected_for(tmp_path, day, {"first.csv": first_file, "second.csv": second_file})
    assert sorted(day_rows(stack, day), key=repr) == sorted(expected, key=repr)


def test_runs_of_a_day_started_at_once_still_list_the_day_one_after_the_other(
    with_airports, tmp_path
):
    """Two executions that ask at the same moment are both told the day is free: the job's
    own wait orders their runs. Here the second run is started directly while the first is held
    in its load: it waits for the first before it even lists the day's objects."""
    stack, day = with_airports, "2014-04-03"
    first_file = (SAMPLE / "daily_flights/date=2013-01-06/flights.csv").read_bytes()
    second_file = (SAMPLE / "daily_flights/date=2013-01-07/flights.csv").read_bytes()
    with first_run_held(stack, day, first_file) as (first, first_run):
        stack.client("s3").put_object(
            Bucket=stack.pipeline.data_bucket,
            Key=f"daily_flights/date={day}/second.csv",
            Body=second_file,
        )
        glue = stack.client("glue")
        arguments = {
            **first_run["Arguments"],
            "--input_key": f"daily_flights/date={day}/second.csv",
        }
        second_id = glue.start_job_run(JobName=stack.pipeline.job, Arguments=arguments)["JobRunId"]
        waiting_line = stack.wait_for(
            lambda: waiting_log_line(stack, day), 120, "the second run to wait for the first"
        )
        time.sleep(1.0)  # the second run must still be waiting, not loading
        assert len(load_waiters(stack)) == 1

    assert finished(stack, f"daily_flights/date={day}/first.csv", first)["status"] == "SUCCEEDED"
    stack.wait_for(
        lambda: (
            glue.get_job_run(JobName=stack.pipeline.job, RunId=second_id)["JobRun"]["JobRunState"]
            == "SUCCEEDED"
        ),
        240,
        "the second run",
    )
    assert first_run["Id"] in waiting_line
    assert [run[0] for run in runs_of(stack, day)] == [first_run["Id"], second_id]
    expected = expected_for(tmp_path, day, {"first.csv": first_file, "second.csv": second_file})
    assert sorted(day_rows(stack, day), key=repr) == sorted(expected, key=repr)


def day_busy_answers(stack, key: str) -> list[str]:
    """The DayBusy answers the execution for ``key`` was given in WaitForTheDay (their causes)."""
    sfn = stack.client("stepfunctions")
    answers = []
    for execution in executions_for(stack, key):
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        for event in history:
            failed = event.get("taskFailedEventDetails") or {}
            if failed.get("error") == "DayBusy":
                answers.append(str(failed.get("cause")))
    return answers


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
