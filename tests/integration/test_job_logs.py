"""The stack's logs: a failed job run's log holds its cause, and every record has a timestamp.

The Chalice app runs in the stack's process, so how it sets up logging decides where the
``flightpipe.*`` records of the whole process go (the job runs' included).
"""

from __future__ import annotations

import re

import pytest

from tests.integration.helpers import job_run, upload

pytestmark = pytest.mark.integration

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# Chalice's own format, '%(name)s - %(levelname)s - %(message)s', has no timestamp.
CHALICE_FORMAT = re.compile(r"[\w.]+ - (DEBUG|INFO|WARNING|ERROR|CRITICAL) - ")
TRACEBACK = "Traceback (most recent call last):"


def records(text: str) -> list[list[str]]:
    """Log records as lists of lines: a record starts at a line that starts with a timestamp."""
    found: list[list[str]] = []
    for line in text.splitlines():
        if TIMESTAMP.match(line) or not found:
            found.append([line])
        else:
            found[-1].append(line)
    return found


def failed_run(stack, arguments: dict[str, str]) -> dict:
    run = job_run(stack, arguments)
    assert run["JobRunState"] == "FAILED"
    return run


def test_a_failed_run_logs_its_error_and_traceback_with_timestamps(stack):
    """A day with no objects: the job warns through its GlueLogger, then raises."""
    run = failed_run(stack, {"--flight_date": "2001-01-01"})
    log = stack.settings.log_dir / "glue-jobs" / f"{run['Id']}.log"
    found = records(log.read_text(encoding="utf-8"))

    assert "2001-01-01" in run["ErrorMessage"]
    failure = next(r for r in found if f"run {run['Id']} FAILED: {run['ErrorMessage']}" in r[0])
    assert failure[1] == TRACEBACK
    assert any(line.endswith(run["ErrorMessage"]) for line in failure[2:])  # the exception line
    assert any(" GlueLogger: " in r[0] for r in found)  # "no catalog partition for ..."
    for record in found:
        assert TIMESTAMP.match(record[0]), record[0]
        # Only a traceback continues a record on further lines.
        assert len(record) == 1 or record[1] == TRACEBACK, record


def test_stack_log_records_have_timestamps_once_the_chalice_app_is_loaded(stack):
    """The Chalice app's own logger (``flightpipe``: the handler's "ignored" line) and the
    stack's (``flightpipe.stack.glue``: a run's failure) write timestamped records."""
    key = "daily_flights/date=2001-02-30/flights.csv"
    ignored = f"ignored: s3://{stack.provisioned.data_bucket}/{key}"
    run = failed_run(stack, {"--flight_date": "2001-02-30"})
    upload(stack, key, b"Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n")
    log = stack.settings.log_dir / "stack.log"
    stack.wait_for(lambda: ignored in log.read_text(encoding="utf-8"), what="the handler's line")
    lines = log.read_text(encoding="utf-8").splitlines()

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    loaded = first("Lambda function flightpipe-local-on_object_created")
    handler_line, failure = first(ignored), first(f"run {run['Id']} FAILED: ")
    assert loaded < handler_line and loaded < failure
    assert TIMESTAMP.match(lines[handler_line]), lines[handler_line]
    assert f" INFO flightpipe: {ignored}" in lines[handler_line]
    assert TIMESTAMP.match(lines[failure]), lines[failure]
    assert " ERROR flightpipe.stack.glue: " in lines[failure]
    assert [line for line in lines if CHALICE_FORMAT.match(line)] == []
