"""The backfill's scheduling (a bounded window, one execution per day, the day's newest object)
and what it prints: progress on a terminal and in a log, and the summary."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from flightpipe import progress
from flightpipe.commands import backfill
from flightpipe.commands.backfill import DayRun, Summary, spans
from flightpipe.infra.stages import Targets
from flightpipe.progress import Counts, Progress, clock_text

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:flightpipe-local-pipeline"
TARGETS = Targets("data", MACHINE)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_elapsed_time_reads_as_a_clock():
    assert [clock_text(s) for s in (0, 9.9, 75, 3599, 3725)] == [
        "0:00",
        "0:09",
        "1:15",
        "59:59",
        "1:02:05",
    ]


def test_days_are_listed_as_runs_of_consecutive_days():
    days = [date(2013, 1, d) for d in (5, 1, 2, 3, 7)] + [date(2013, 2, 1), date(2013, 1, 31)]
    assert spans(days) == "2013-01-01..2013-01-03, 2013-01-05, 2013-01-07, 2013-01-31..2013-02-01"
    assert spans([]) == ""


def test_in_a_log_each_day_is_one_line_as_it_ends_and_nothing_else():
    out = io.StringIO()
    progress = Progress(out)
    progress.update(Counts(0, 3, 2, 0, 1.0))
    ok = DayRun(date(2013, 1, 1), status="SUCCEEDED", rows_loaded=51, seconds=8.6)
    failed = DayRun(date(2013, 1, 2), status="FAILED", error="States.TaskFailed", seconds=3.0)
    progress.ended(ok, Counts(1, 3, 1, 0, 9.0))
    progress.ended(failed, Counts(2, 3, 0, 1, 12.0))
    progress.close()

    assert out.getvalue().splitlines() == [
        "2013-01-01  SUCCEEDED  loaded 51 rows in 8.6s  "
        "[1/3 days done, 1 running, 0 failed, 0:09 elapsed]",
        "2013-01-02  FAILED     States.TaskFailed in 3.0s  "
        "[2/3 days done, 0 running, 1 failed, 0:12 elapsed]",
    ]


def test_on_a_terminal_one_line_is_rewritten_and_failures_stay_above_it(monkeypatch):
    monkeypatch.setattr(progress.shutil, "get_terminal_size", lambda: os.terminal_size((120, 40)))
    out = Terminal()
    shown = Progress(out)
    shown.update(Counts(0, 4, 2, 0, 1.0))
    shown.update(Counts(1, 4, 2, 0, 61.0))
    failed = DayRun(date(2013, 1, 2), status="FAILED", error="States.TaskFailed")
    shown.ended(failed, Counts(2, 4, 1, 1, 65.0))
    shown.close()

    text = out.getvalue()
    first = "[------------------------] 0/4 days done, 2 running, 0 failed, 0:01 elapsed"
    second = "[######------------------] 1/4 days done, 2 running, 0 failed, 1:01 elapsed"
    third = "[############------------] 2/4 days done, 1 running, 1 failed, 1:05 elapsed"
    assert text == (
        f"\r{first}\r{second}\r{'2013-01-02  FAILED     States.TaskFailed'.ljust(len(second))}\n"
        f"\r{third}\n"
    )


def test_the_summary_counts_the_days_and_says_how_to_rerun_each_failure():
    glue_cause = json.dumps(
        {"Id": "jr_1", "JobRunState": "FAILED", "ErrorMessage": "ValueError: no DepDelay\n"}
    )
    days = [
        DayRun(date(2013, 1, 1), status="SUCCEEDED", rows_loaded=51),
        DayRun(date(2013, 1, 2), status="SUCCEEDED", rows_loaded=80),
        DayRun(date(2013, 1, 3), status="SKIPPED"),
        DayRun(date(2013, 1, 4), status="FAILED", error="States.TaskFailed", cause=glue_cause),
        DayRun(date(2013, 1, 5), status="TIMED_OUT", error="TIMED_OUT"),
        DayRun(date(2013, 1, 6), status="SUCCEEDED"),
    ]
    rerun = backfill.rerun_command("dev")
    summary = Summary(date(2013, 1, 1), date(2013, 1, 6), days, 125.0, rerun)

    assert summary.lines() == [
        "backfill 2013-01-01..2013-01-06",
        "days loaded   3: 2013-01-01..2013-01-02, 2013-01-06",
        "days failed   2",
        "  2013-01-04  FAILED  States.TaskFailed",
        "    cause: job run jr_1 FAILED: ValueError: no DepDelay",
        "    rerun: make replay STAGE=dev DATE=2013-01-04",
        "  2013-01-05  TIMED_OUT  TIMED_OUT",
        "    cause: (none given)",
        "    rerun: make replay STAGE=dev DATE=2013-01-05",
        "days skipped  1: 2013-01-03 (no objects)",
        "rows loaded   131 (no run report for 2013-01-06)",
        "elapsed       2:05",
    ]
    assert summary.exit_status == 1


def test_skipped_days_alone_are_no_failure():
    days = [DayRun(date(2013, 1, 1), status="SKIPPED")]
    summary = Summary(date(2013, 1, 1), date(2013, 1, 1), days, 1.0)
    assert summary.exit_status == 0
    assert "days skipped  1: 2013-01-01 (no objects)" in summary.lines()


# --- scheduling, against fakes of S3 and Step Functions ----------------------------------------


class FakeS3:
    def __init__(self, keys: list[tuple[str, int]]):
        base = datetime(2024, 1, 1, tzinfo=UTC)
        self.objects = sorted(
            (
                {"Key": k, "ETag": f'"etag-{m}"', "LastModified": base + timedelta(minutes=m)}
                for k, m in keys
            ),
            key=lambda o: o["Key"],
        )
        self.reports: dict[str, dict[str, Any]] = {}

    def get_paginator(self, name: str) -> FakeS3:
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str, StartAfter: str) -> list[dict[str, Any]]:
        listed = [o for o in self.objects if o["Key"].startswith(Prefix) and o["Key"] > StartAfter]
        return [{"Contents": listed[:2]}, {"Contents": listed[2:]}]  # two pages

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(json.dumps(self.reports[Key]).encode())}


class FakeStepFunctions:
    """Executions that end after ``polls`` describes each: FAILED for the days in ``failing``."""

    class exceptions:
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self, s3: FakeS3, failing: set[str], polls: int = 2):
        self.s3, self.failing, self.polls = s3, failing, polls
        self.started: list[dict[str, Any]] = []
        self.described: dict[str, int] = {}
        self.most_running = 0

    def _running(self) -> int:
        return sum(1 for arn, n in self.described.items() if n < self.polls)

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, str]:
        arn = f"{stateMachineArn.replace(':stateMachine:', ':execution:')}:{name}"
        self.started.append({"name": name, "input": json.loads(input)})
        self.described[arn] = 0
        self.most_running = max(self.most_running, self._running())
        return {"executionArn": arn}

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.described[executionArn] += 1
        day = executionArn.split(":")[-1][len("backfill-") :][:10]
        if self.described[executionArn] < self.polls:
            return {"status": "RUNNING"}
        if day in self.failing:
            return {
                "executionArn": executionArn,
                "status": "FAILED",
                "error": "PipelineFailed",
                "cause": "The failure notification was published",
            }
        self.s3.reports[f"run-reports/date={day}/jr_{day}.json"] = {"rows_loaded": 10}
        return {
            "executionArn": executionArn,
            "status": "SUCCEEDED",
            "output": json.dumps({"job": {"id": f"jr_{day}"}}),
        }

    def get_paginator(self, name: str) -> FakeStepFunctions:
        assert name == "get_execution_history"
        return self

    def paginate(self, executionArn: str) -> list[dict[str, Any]]:
        caught = {"Error": "States.TaskFailed", "Cause": "missing required column DepDelay"}
        return [
            {
                "events": [
                    {"stateEnteredEventDetails": {"name": "RunJob", "input": "{}"}},
                    {
                        "stateEnteredEventDetails": {
                            "name": "DayFailureNotice",
                            "input": json.dumps({"input": {}, "failure": caught}),
                        }
                    },
                ]
            }
        ]


def test_a_range_runs_one_execution_per_day_with_objects_never_more_than_the_window(
    monkeypatch,
):
    monkeypatch.setattr(backfill.time, "sleep", lambda seconds: None)
    days = [date(2013, 1, 1) + timedelta(n) for n in range(10)]
    without = (days[4], days[5])  # no object the handler would take
    with_files = [d for d in days if d not in without]
    keys = [(f"daily_flights/date={d}/flights.csv", n) for n, d in enumerate(with_files)]
    keys += [
        ("daily_flights/date=2013-01-02/later.csv", 100),  # the day's newest object
        ("daily_flights/date=2013-01-06/_hidden.csv", 0),  # ignored by the handler: skipped
        ("daily_flights/date=2013-01-06/notes.txt", 0),
        ("daily_flights/date=2012-12-31/flights.csv", 0),  # outside the range
        ("daily_flights/date=2013-01-11/flights.csv", 0),
    ]
    s3 = FakeS3(keys)
    sfn = FakeStepFunctions(s3, failing={"2013-01-08"}, polls=3)
    clients = {"s3": s3, "stepfunctions": sfn}
    out = io.StringIO()

    summary = backfill.run(
        TARGETS, clients.__getitem__, days[0], days[-1], window=3, out=out, poll_seconds=0
    )

    assert sfn.most_running == 3
    started = {s["input"]["flight_date"]: s["input"]["key"] for s in sfn.started}
    assert sorted(started) == [str(d) for d in days if d not in without]
    assert started["2013-01-02"] == "daily_flights/date=2013-01-02/later.csv"
    assert [r.day for r in summary.skipped] == list(without)
    assert [(r.day, r.error, r.cause) for r in summary.failed] == [
        (days[7], "States.TaskFailed", "missing required column DepDelay")
    ]
    assert (len(summary.loaded), summary.rows, summary.exit_status) == (7, 70, 1)
    assert out.getvalue().splitlines()[0] == (
        "backfill 2013-01-01..2013-01-10 from s3://data/: 8 days to run, 2 without objects, "
        "at most 3 at a time"
    )
    assert len(out.getvalue().splitlines()) == 1 + 8


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="ends"):
        backfill.run(TARGETS, lambda service: None, date(2013, 1, 2), date(2013, 1, 1), window=1)
