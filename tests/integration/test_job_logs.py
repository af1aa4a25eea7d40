"""The stack's logs: a failed job run's log holds its cause, and every record has a timestamp.

Job runs log to ``<log dir>/glue-jobs/<run id>.log`` and the Glue service to ``glue.log``; the
handlers run as Lambda functions and log to CloudWatch Logs through the Python runtime's handler
(timestamp and request id on every record), which only works if the Chalice app leaves the
records to propagate (``configure_logs=False``).
"""

from __future__ import annotations

import re

from tests.support.pipeline import (
    function_log,
    function_name,
    handler_logged,
    job_run,
    upload,
)

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# AWS's Python runtime: "[LEVEL]\t<UTC timestamp>\t<request id>\t<message>".
LAMBDA_RECORD = re.compile(
    r"\[(INFO|WARNING|ERROR)\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t[0-9a-f-]{36}\t"
)
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


def test_the_glue_service_logs_a_failed_run_with_a_timestamp(stack):
    """The Glue service's own log (``glue.log``) records a run's failure, timestamped, under
    ``flightpipe.stack.glue``."""
    run = failed_run(stack, {"--flight_date": "2001-02-30"})
    log = stack.settings.log_dir / "glue.log"
    line = stack.wait_for(
        lambda: next(
            (
                line
                for line in log.read_text(encoding="utf-8").splitlines()
                if f"run {run['Id']} FAILED: " in line
            ),
            None,
        ),
        what="the run's failure in glue.log",
    )
    assert TIMESTAMP.match(line), line
    assert " ERROR flightpipe.stack.glue: " in line


def test_the_handlers_records_reach_cloudwatch_logs_with_timestamps(stack):
    """The upload handler's ``flightpipe`` logger (its "ignored" line) goes through the Lambda
    runtime's handler: timestamp and request id, and nothing in Chalice's own format."""
    key = "daily_flights/date=2001-02-30/flights.csv"
    ignored = f"ignored: s3://{stack.pipeline.data_bucket}/{key}"
    upload(stack, key, b"Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n")
    line = handler_logged(stack, "OnObjectCreated", ignored)

    assert LAMBDA_RECORD.match(line) and line.startswith("[INFO]"), line
    assert f"\t{ignored}: 2001-02-30 is not a calendar date" in line, line
    messages = function_log(stack, function_name(stack, "OnObjectCreated"))
    lines = [line for message in messages for line in message.splitlines()]
    assert [line for line in lines if CHALICE_FORMAT.match(line)] == []
