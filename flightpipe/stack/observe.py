"""What ran, what failed and why, what was loaded and quarantined: the pipeline seen through its
own services, for ``flightpipe status|runs|logs`` and the stack's dashboard.

Everything is read where AWS keeps it, through boto3, so the same code reads the Docker-free
stack and the compose stack: executions and their event history (Step Functions), job runs
(Glue), run reports and quarantined lines (S3), the run records and the fact table (the
warehouse, reached through the pipeline's Glue connection, as the job reaches it). Job logs are
the stack's per-run files; notifications are the state machine's SNS tasks (its history) and
the alerts the handlers logged that they published (CloudWatch Logs).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flightpipe.infra.executions import TERMINAL

LAMBDA_LOGS = "/aws/lambda/"
# How ``on_execution_failed`` logs an alert it published (chalice_app/chalicelib/pipeline.py).
ALERT_LOG_PREFIX = "alert published: "
RECONCILED = ("rows_loaded", "rows_below_threshold", "rows_missing_delay", "rows_quarantined")


def sent_by_state_machine(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The notifications an execution's SNS Publish tasks sent, from its history: subject and
    message as the task was given them, the message id SNS answered, or the error."""
    sent: list[dict[str, Any]] = []
    pending: dict[int, dict[str, Any]] = {}
    for event in events:
        details: dict[str, Any] = next(
            (v for k, v in event.items() if k.endswith("EventDetails")), {}
        )
        if event["type"] == "TaskScheduled" and details.get("resourceType") == "sns":
            parameters = json.loads(details.get("parameters") or "{}")
            pending[event["id"]] = {
                "id": None,
                "subject": parameters.get("Subject"),
                "message": parameters.get("Message"),
                "status": "scheduled",
            }
            sent.append(pending[event["id"]])
        elif (
            event["type"] in ("TaskSucceeded", "TaskFailed")
            and details.get("resourceType") == "sns"
        ):
            notification = pending.pop(event.get("previousEventId", -1), None)
            if notification is None and pending:  # the latest scheduled one
                notification = pending.pop(max(pending))
            if notification is None:
                continue
            if event["type"] == "TaskSucceeded":
                notification["id"] = json.loads(details.get("output") or "{}").get("MessageId")
                notification["status"] = "sent"
            else:
                notification["status"] = f"refused: {details.get('error')}"
    return sent


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _seconds(start: Any, stop: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(stop, datetime):
        return round((stop - start).total_seconds(), 1)
    return None


@dataclass
class Observer:
    """Reads the pipeline. ``clients(service)`` gives boto3 clients for the stack's endpoint."""

    clients: Callable[[str], Any]
    state_machine_arn: str
    bucket: str
    connection_name: str
    log_dir: Path
    _inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- executions --------------------------------------------------------------------------

    def executions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest executions first, each with its object, day, status, duration and, for a
        failure, the state that failed and its error."""
        sfn = self.clients("stepfunctions")
        found: list[dict[str, Any]] = []
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn
        )
        for item in (item for page in pages for item in page["executions"]):
            found.append(self._summary(sfn, item["executionArn"]))
        found.sort(key=lambda e: e["started"] or "", reverse=True)
        return found[:limit]

    def _summary(self, sfn: Any, arn: str) -> dict[str, Any]:
        with self._lock:
            done = self._finished.get(arn)
        if done is not None:
            return done
        described = sfn.describe_execution(executionArn=arn)
        given = json.loads(described.get("input") or "{}")
        key = given.get("key", "")
        summary: dict[str, Any] = {
            "arn": arn,
            "name": described["name"],
            "status": described["status"],
            "key": key,
            "day": _day_of(key),
            "kind": "airports" if key.startswith("dim/") else "day",
            "started": _iso(described.get("startDate")),
            "stopped": _iso(described.get("stopDate")),
            "seconds": _seconds(described.get("startDate"), described.get("stopDate")),
            "error": described.get("error"),
            "cause": described.get("cause"),
            "failed_state": None,
        }
        if described["status"] in TERMINAL:
            if described["status"] != "SUCCEEDED":
                summary.update(_failure(self.steps(arn)))
            with self._lock:
                self._finished[arn] = summary
        return summary

    def history(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.clients("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events += page["events"]
        return events

    def steps(self, arn: str, events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The execution's path through the state machine: each state entered, when, for how
        long, the task's attempts (retries) and errors, and the Glue job run it started."""
        events = self.history(arn) if events is None else events
        steps: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for event in events:
            kind = event["type"]
            at = event["timestamp"]
            details: dict[str, Any] = next(
                (v for k, v in event.items() if k.endswith("EventDetails")), {}
            )
            if kind.endswith("StateEntered"):
                current = {
                    "state": details.get("name"),
                    "type": kind.removesuffix("StateEntered"),
                    "entered": _iso(at),
                    "seconds": None,
                    "attempts": 0,
                    "error": None,
                    "cause": None,
                    "job_run_id": None,
                    "_at": at,
                }
                steps.append(current)
            elif current is None:
                continue
            elif kind.endswith("StateExited"):
                current["seconds"] = _seconds(current["_at"], at)
            elif kind == "TaskScheduled":
                current["attempts"] += 1
            elif kind.endswith("Failed") or kind.endswith("TimedOut"):
                current["error"] = details.get("error") or kind
                current["cause"] = details.get("cause")
                current["job_run_id"] = current["job_run_id"] or _job_run_id(details.get("cause"))
            elif kind == "TaskSucceeded":
                current["job_run_id"] = _job_run_id(details.get("output"))
        for step in steps:
            step.pop("_at", None)
            step["retries"] = max(0, step.pop("attempts") - 1)
        return steps

    def execution(self, arn: str) -> dict[str, Any]:
        """One execution in full: its summary, steps, job runs with their logs, and the
        notifications it sent."""
        summary = self._summary(self.clients("stepfunctions"), arn)
        events = self.history(arn)
        steps = self.steps(arn, events)
        for step in steps:  # an error a Catch or Retry handled, not the execution's failure
            step["caught"] = bool(step["error"]) and (
                summary["status"] == "SUCCEEDED"
                or (step["state"] != summary["failed_state"] and step["type"] != "Fail")
            )
        runs = [s["job_run_id"] for s in steps if s.get("job_run_id")]
        return {
            **summary,
            "steps": steps,
            "job_logs": {run: self.job_log(run) for run in runs},
            "notifications": [*sent_by_state_machine(events), *self.handler_alerts(arn)],
        }

    def handler_alerts(self, arn: str) -> list[dict[str, Any]]:
        """The alerts the handlers published about this execution, from their logs in
        CloudWatch Logs (``on_execution_failed`` logs each with the execution's ARN)."""
        logs = self.clients("logs")
        found = []
        groups = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=LAMBDA_LOGS)
        for group in (g for page in groups for g in page["logGroups"]):
            events = logs.get_paginator("filter_log_events").paginate(
                logGroupName=group["logGroupName"]
            )
            for event in (e for page in events for e in page["events"]):
                text = event["message"]
                start = text.find(ALERT_LOG_PREFIX)
                if start < 0 or arn not in text:
                    continue
                try:
                    alert = json.loads(text[start + len(ALERT_LOG_PREFIX) :])
                except ValueError:
                    continue
                if alert.get("execution") == arn:
                    found.append(
                        {
                            "id": alert.get("message_id"),
                            "subject": alert.get("subject"),
                            "message": alert.get("message"),
                            "status": "sent by a handler",
                        }
                    )
        return found

    def job_log(self, run_id: str) -> str | None:
        path = self.log_dir / "glue-jobs" / f"{Path(run_id).name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None

    # --- the warehouse and S3 ----------------------------------------------------------------

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        from flightpipe.gluelocal.jdbc import connection_conf

        conf = connection_conf(
            self.clients("glue"), self.connection_name, secrets=self.clients("secretsmanager")
        )
        url = conf.url.removeprefix("jdbc:").replace("postgresql://", "postgresql://", 1)
        with psycopg.connect(
            url, user=conf.user, password=conf.password, connect_timeout=5, row_factory=dict_row
        ) as connection:
            return list(connection.execute(sql, tuple(params)).fetchall())

    def days(self) -> list[dict[str, Any]]:
        """The last run of each day: rows read and where each went, checked to add up."""
        rows = self._query(
            """
            SELECT DISTINCT ON (flight_date) flight_date, run_id, status, input_object,
                   rows_read, rows_loaded, rows_below_threshold, rows_missing_delay,
                   rows_quarantined, rows_unmatched_airports, started_at, finished_at,
                   error_message
            FROM airlines.pipeline_runs
            ORDER BY flight_date DESC, started_at DESC
            """
        )
        for row in rows:
            accounted = sum(row[name] or 0 for name in RECONCILED)
            row["reconciled"] = row["rows_read"] is not None and row["rows_read"] == accounted
            for name in ("flight_date", "started_at", "finished_at"):
                row[name] = _iso(row[name]) if row[name] is not None else None
            if hasattr(row["flight_date"], "isoformat"):
                row["flight_date"] = row["flight_date"].isoformat()
        return rows

    def quarantined(self, day: str, run_id: str | None = None) -> list[dict[str, Any]]:
        """The quarantined lines of the day's run (its last, unless ``run_id``): line number,
        reason, source object and the line itself, as the job wrote them."""
        s3 = self.clients("s3")
        prefix = f"quarantine/date={day}/"
        if run_id:
            prefix += f"run={run_id}/"
        objects = [
            o
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for o in page.get("Contents", [])
            if not Path(o["Key"]).name.startswith(("_", "."))
        ]
        if not objects:
            return []
        last_run = max(objects, key=lambda o: o["LastModified"])["Key"].split("/")[2]
        lines: list[dict[str, Any]] = []
        for item in sorted(objects, key=lambda o: o["Key"]):
            if item["Key"].split("/")[2] != last_run:
                continue
            body = s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
            for text in body.decode("utf-8", "replace").splitlines():
                if text.strip():
                    lines.append({"run": last_run.removeprefix("run="), **json.loads(text)})
        return lines

    def delays(self, top: int = 10) -> dict[str, Any]:
        """Delayed flights per day, and the airports and carriers with the most of them."""
        per_day = self._query(
            "SELECT flight_date, COUNT(*) AS flights, ROUND(AVG(dep_delay), 1) AS avg_dep_delay "
            "FROM airlines.daily_flights_fact GROUP BY flight_date ORDER BY flight_date"
        )
        airports = self._query(
            "SELECT dep_airport AS airport, dep_city AS city, COUNT(*) AS flights, "
            "ROUND(AVG(dep_delay), 1) AS avg_dep_delay FROM airlines.daily_flights_fact "
            "GROUP BY dep_airport, dep_city ORDER BY flights DESC, airport LIMIT %s",
            (top,),
        )
        carriers = self._query(
            "SELECT carrier, COUNT(*) AS flights, ROUND(AVG(dep_delay), 1) AS avg_dep_delay "
            "FROM airlines.daily_flights_fact GROUP BY carrier ORDER BY flights DESC, carrier "
            "LIMIT %s",
            (top,),
        )
        for row in per_day:
            row["flight_date"] = row["flight_date"].isoformat()
        return {
            "per_day": _plain(per_day),
            "airports": _plain(airports),
            "carriers": _plain(carriers),
        }


def _failure(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The state the execution failed at and its error, with the Glue job's own
    ``ErrorMessage`` when the cause is the job run.

    Errors a Catch routes on are not failures (CheckPartition's EntityNotFoundException sends a
    new day to the crawler): the failing state is the one whose Catch led to the failure notice
    (``DayFailureNotice``, ``AirportsFailureNotice`` in stepfunctions/pipeline.asl.json), else
    the last state with an error before the final Fail."""
    notice = next((i for i, s in enumerate(steps) if s["state"].endswith("FailureNotice")), None)
    if notice:
        chosen = steps[notice - 1]
    else:
        failed = [s for s in steps if s.get("error") and s["type"] != "Fail"]
        if not failed:
            return {}
        chosen = failed[-1]
    if not chosen.get("error"):
        return {"failed_state": chosen["state"]}
    error = chosen["error"]
    try:
        cause = json.loads(chosen.get("cause") or "")
    except ValueError:
        cause = None
    if isinstance(cause, dict) and cause.get("ErrorMessage"):
        error = f"{error}: {cause['ErrorMessage']}"
    return {"failed_state": chosen["state"], "error": error, "cause": chosen.get("cause")}


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decimals (AVG) as floats, for JSON."""
    from decimal import Decimal

    return [{k: float(v) if isinstance(v, Decimal) else v for k, v in r.items()} for r in rows]


def _day_of(key: str) -> str | None:
    if "date=" not in key:
        return None
    return key.split("date=", 1)[1].split("/", 1)[0] or None


def _job_run_id(text: str | None) -> str | None:
    """The Glue job run id in a task's output or cause (``{"Id": "jr_...", ...}``)."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        found = value.get("Id") or value.get("JobRunId")
        return str(found) if isinstance(found, str) and found.startswith("jr_") else None
    return None
