"""``make local-e2e``: the whole flow on the shipped sample data, checked independently.

Brings the local stack up, uploads the airports file and the sample days with a real S3 client
exactly where production uploads land, waits for the executions the uploads start, compares
the fact table with an independent computation over the same files (DuckDB), and prints, per
day, the status, rows loaded, unmatched airports, quarantined rows, duration and the
notification received. Exits non-zero on any mismatch or failed run, and, at once, on a call a
role made that its deployed policy would deny (the local stack's IAM check names principal,
action and resource). Stops the stack and PostgreSQL afterwards unless KEEP=1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg

from flightpipe.infra import executions
from flightpipe.infra.executions import json_object, upload_execution_arn
from flightpipe.paths import SAMPLE_DIR
from flightpipe.progress import clock_text
from flightpipe.settings import LocalSettings
from flightpipe.shipped import reach_job_code
from flightpipe.stack.local import LocalStack, iam_denials_file

reach_job_code()
from flightjob.flights import FACT_COLUMNS  # noqa: E402  (the job's own column list)

ROW = "{:<12}{:<11}{:>8}{:>11}{:>13}{:>9}  {}"


def expected_fact_rows(
    flights_glob: str, airports_csv: Path, min_dep_delay: int = 60
) -> list[tuple[Any, ...]]:
    """The fact table computed independently of the pipeline, with DuckDB over the CSV files."""
    import duckdb

    return (
        duckdb.connect()
        .execute(
            f"""
        WITH f AS (
            SELECT * FROM read_csv('{flights_glob}', all_varchar = true, header = true,
                                   hive_partitioning = true, filename = false)
        ), a AS (
            SELECT * FROM read_csv('{airports_csv}', all_varchar = true, header = true)
        )
        SELECT f.Carrier, CAST(f.OriginAirportID AS BIGINT), CAST(f.DestAirportID AS BIGINT),
               d.name, r.name, d.city, r.city, d.state, r.state,
               CAST(f.DepDelay AS BIGINT), CAST(NULLIF(f.ArrDelay, '') AS BIGINT),
               CAST(f.date AS DATE)
        FROM f
        LEFT JOIN a d ON d.airport_id = f.OriginAirportID
        LEFT JOIN a r ON r.airport_id = f.DestAirportID
        WHERE f.DepDelay <> '' AND CAST(f.DepDelay AS BIGINT) >= {int(min_dep_delay)}
        """
        )
        .fetchall()
    )


@dataclass
class DayResult:
    key: str
    execution_arn: str
    execution: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    notifications: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.execution.get("status", "NOT STARTED"))

    @property
    def seconds(self) -> float | None:
        start, stop = self.execution.get("startDate"), self.execution.get("stopDate")
        if isinstance(start, datetime) and isinstance(stop, datetime):
            return (stop - start).total_seconds()
        return None


class EndToEnd:
    def __init__(self, settings: LocalSettings, values: dict[str, str]):
        session = LocalStack(settings).session()
        self.s3 = session.client("s3", endpoint_url=settings.endpoint_url)
        self.sfn = session.client("stepfunctions", endpoint_url=settings.endpoint_url)
        self.sqs = session.client("sqs", endpoint_url=settings.endpoint_url)
        self.bucket = values["DATA_BUCKET"]
        self.machine = values["STATE_MACHINE_ARN"]
        self.queue = values["ALERTS_QUEUE_URL"]
        self.database_url = values["DATABASE_URL"]
        # The IAM check's refusals (the Docker-free stack's): those written from now on.
        self.denials_file = iam_denials_file(settings)
        self._denials_from = self.denials_file.stat().st_size if self.denials_file.is_file() else 0

    def denials(self) -> list[dict[str, Any]]:
        """The calls the IAM check refused since this check began."""
        if not self.denials_file.is_file():
            return []
        with self.denials_file.open("rb") as found:
            found.seek(self._denials_from)
            return [json.loads(line) for line in found.read().splitlines() if line.strip()]

    def upload(self, path: Path, key: str) -> DayResult:
        self.s3.upload_file(str(path), self.bucket, key)
        stored = self.s3.head_object(Bucket=self.bucket, Key=key)
        day = date.fromisoformat(key.split("date=")[1].split("/")[0]) if "date=" in key else None
        arn = upload_execution_arn(self.machine, self.bucket, key, stored, day)
        return DayResult(key, arn)

    def wait(self, uploads: list[DayResult], timeout: float = 600.0, out: Any = None) -> None:
        """Wait for the execution each upload started to end; on ``out``, a line per upload as
        it ends, with how many are done and the time taken. Gives up at the first refusal of
        the IAM check."""
        by_arn = {u.execution_arn: u for u in uploads}
        started = time.monotonic()
        done = 0

        def ended(execution: dict[str, Any]) -> None:
            nonlocal done
            upload = by_arn[execution["executionArn"]]
            upload.execution = execution
            done += 1
            if out is not None:
                elapsed = clock_text(time.monotonic() - started)
                print(
                    f"  {upload.key}: {upload.status}  "
                    f"[{done}/{len(uploads)} done, {elapsed} elapsed]",
                    file=out,
                    flush=True,
                )

        executions.wait(
            self.sfn,
            by_arn,
            timeout,
            poll_seconds=0.5,
            on_end=ended,
            give_up=lambda: bool(self.denials()),
        )

    def attach_reports(self, uploads: list[DayResult]) -> None:
        for upload in uploads:
            output = upload.execution.get("output")
            if upload.status != "SUCCEEDED" or not output:
                continue
            job = json.loads(output).get("job", {})
            day = upload.key.split("date=")[1].split("/")[0]
            body = self.s3.get_object(
                Bucket=self.bucket, Key=f"run-reports/date={day}/{job['id']}.json"
            )
            upload.report = json.load(body["Body"])

    def collect_notifications(
        self, uploads: list[DayResult], expected: int, timeout: float = 30.0
    ) -> None:
        by_object = {f"s3://{self.bucket}/{u.key}": u for u in uploads}
        received = 0
        deadline = time.monotonic() + timeout
        while received < expected and time.monotonic() < deadline:
            for message in self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", []):
                envelope = json.loads(message["Body"])
                body = json_object(envelope.get("Message", ""))
                target = by_object.get(_object_of(body))
                if target is not None:
                    target.notifications.append(str(envelope.get("Subject")))
                    received += 1
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def loaded_rows(self, days: list[date]) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(
                f"SELECT {', '.join(FACT_COLUMNS)} FROM airlines.daily_flights_fact "
                "WHERE flight_date = ANY(%s)",
                (days,),
            ).fetchall()


def _object_of(body: dict[str, Any]) -> str:
    """The input object a notification is about (success, failure and dimension messages)."""
    if body.get("input_object"):
        return str(body["input_object"])
    nested = body.get("input")
    source: dict[str, Any] = nested if isinstance(nested, dict) else body
    return f"s3://{source.get('bucket')}/{source.get('key')}"


def run(settings: LocalSettings, keep: bool, out: Any = sys.stdout, compose: bool = False) -> int:
    """The check against the Docker-free stack, or with ``compose`` against the compose stack
    (job runs in containers of the Glue image)."""
    if compose:
        from flightpipe.devenv import compose as stack
    else:
        from flightpipe.stack import local as stack  # type: ignore[no-redef]
    started = time.monotonic()
    name = "compose stack" if compose else "local stack"
    print(f"bringing the {name} up ...", file=out, flush=True)
    values = stack.up(settings)
    try:
        return check(settings, values, out, started)
    finally:
        if keep:
            target = "compose-down" if compose else "local-down"
            print(f"KEEP=1: the stack stays up; `make {target}` stops it", file=out)
        else:
            stack.down(settings)
            print(f"{name} and PostgreSQL stopped", file=out)


def check(
    settings: LocalSettings, values: dict[str, str], out: Any, started: float | None = None
) -> int:
    """The check against a stack that is up (``values``: its ``stack.env``); 0 if it passed."""
    return _check(EndToEnd(settings, values), out, time.monotonic() if started is None else started)


def _check(e2e: EndToEnd, out: Any, started: float) -> int:
    airports = e2e.upload(SAMPLE_DIR / "airports.csv", "dim/airports.csv")
    e2e.wait([airports], out=out)
    if e2e.denials():
        return _denied(e2e, out, started)
    day_files = sorted(SAMPLE_DIR.glob("daily_flights/date=*/flights.csv"))
    uploads = [e2e.upload(path, str(path.relative_to(SAMPLE_DIR))) for path in day_files]
    print(
        f"uploaded dim/airports.csv and {len(uploads)} days to s3://{e2e.bucket}/",
        file=out,
        flush=True,
    )
    e2e.wait(uploads, out=out)
    if e2e.denials():
        return _denied(e2e, out, started)
    e2e.attach_reports(uploads)
    e2e.collect_notifications([airports, *uploads], expected=1 + len(uploads))

    days = [date.fromisoformat(u.key.split("date=")[1].split("/")[0]) for u in uploads]
    expected = expected_fact_rows(
        str(SAMPLE_DIR / "daily_flights" / "date=*" / "flights.csv"), SAMPLE_DIR / "airports.csv"
    )
    loaded = e2e.loaded_rows(days)
    matches = sorted(loaded, key=repr) == sorted(expected, key=repr)

    print(
        "\n"
        + ROW.format(
            "day", "status", "loaded", "unmatched", "quarantined", "seconds", "notification"
        ),
        file=out,
    )
    for day, upload in [*zip(days, uploads, strict=True), ("airports", airports)]:
        report = upload.report
        print(
            ROW.format(
                str(day),
                upload.status,
                report.get("rows_loaded", "-"),
                report.get("rows_unmatched_airports", "-"),
                report.get("rows_quarantined", "-"),
                f"{upload.seconds:.1f}" if upload.seconds is not None else "-",
                "; ".join(upload.notifications) or "(none)",
            ),
            file=out,
        )
    failed = [u for u in [airports, *uploads] if u.status != "SUCCEEDED"]
    for upload in failed:
        print(
            f"\n{upload.key}: {upload.status} {upload.execution.get('error', '')}: "
            f"{upload.execution.get('cause', '')}",
            file=out,
        )
    print(
        f"\nfact table: {len(loaded)} rows loaded, {len(expected)} expected by an independent "
        f"computation (DuckDB over the same files): {'MATCH' if matches else 'MISMATCH'}",
        file=out,
    )
    print(f"total {time.monotonic() - started:.1f}s", file=out)
    return 0 if matches and not failed else 1


def _denied(e2e: EndToEnd, out: Any, started: float) -> int:
    print("\nIAM: the deployed policies would deny these calls:", file=out)
    for denial in e2e.denials():
        print(
            f"  {denial['principal']} may not {denial['action']} on {denial['resource']}"
            + (f" ({denial['why']})" if denial.get("why") else ""),
            file=out,
        )
    print(f"total {time.monotonic() - started:.1f}s", file=out)
    return 1


def command(args: Any) -> int:
    keep = os.environ.get("KEEP", "") not in ("", "0")
    return run(LocalSettings.from_env(), keep, compose=args.compose)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "e2e", help="the whole flow on the sample data, checked independently (make local-e2e)"
    )
    parser.add_argument("--compose", action="store_true", help="against the compose stack")
    parser.set_defaults(handler=command)
