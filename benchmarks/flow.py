"""Benchmark: upload -> success notification for one day, against a single-process reference.

Needs a running stack (``make local-up``; reads ``.local/stack.env``). For each ``--rows`` size,
uploads ``--runs`` new days (each a date the stack has not seen, so each is crawled, as a new
day is on AWS) one after another and times each from the start of the upload until the success
notification for its object arrives on the alerts queue (SNS -> SQS). The first day of the first
size warms the path and is not counted. Prints each time and the median per size.

Then, for the same generated file, the single-process reference the issue compares with:
DuckDB reads the CSV, keeps flights delayed 60 minutes or more, left-joins the airports twice and
the result is copied into a PostgreSQL table of the fact's columns (COPY), in one process.

Last, the stack's memory: resident set size of the stack server and of its children (Spark's
JVM), from ``/proc``; PostgreSQL apart.

    .venv/bin/python benchmarks/flow.py                        # 20,000 and 1,000,000 rows
    .venv/bin/python benchmarks/flow.py --rows 20000 --runs 5

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import psycopg
from stack_client import AIRPORTS, accept_airports, load_stack_env

from flightpipe.config import LOCAL_DIR
from flightpipe.generate import generate_day

FIRST_DAY = date(2016, 1, 1)
FACT = (
    "carrier VARCHAR(10), dep_airport_id BIGINT, arr_airport_id BIGINT, dep_airport VARCHAR(200),"
    " arr_airport VARCHAR(200), dep_city VARCHAR(100), arr_city VARCHAR(100),"
    " dep_state VARCHAR(100), arr_state VARCHAR(100), dep_delay BIGINT, arr_delay BIGINT,"
    " flight_date DATE"
)


def unseen_days(s3: Any, bucket: str, count: int) -> list[date]:
    """``count`` dates from FIRST_DAY on that have no object in the bucket yet."""
    days, day = [], FIRST_DAY
    while len(days) < count:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"daily_flights/date={day}/", MaxKeys=1)
        if not listed.get("KeyCount"):
            days.append(day)
        day += timedelta(1)
    return days


def drain(sqs: Any, queue: str) -> None:
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def upload_to_notification(
    s3: Any, sqs: Any, bucket: str, queue: str, path: Path, day: date, timeout: float = 900
) -> float:
    key = f"daily_flights/date={day}/flights.csv"
    started = time.monotonic()
    s3.upload_file(str(path), bucket, key)
    wanted = f"s3://{bucket}/{key}"
    while time.monotonic() - started < timeout:
        for message in sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            envelope = json.loads(message["Body"])
            body = json.loads(envelope.get("Message") or "{}")
            if body.get("input_object") == wanted:
                status = (envelope.get("MessageAttributes") or {}).get("status", {}).get("Value")
                if status != "SUCCEEDED":
                    raise SystemExit(f"{key}: {envelope.get('Subject')}")
                return time.monotonic() - started
    raise SystemExit(f"{key}: no notification within {timeout:.0f}s")


def timed_days(
    s3: Any,
    sqs: Any,
    where: tuple[str, str],
    path: Path,
    days: Iterator[date],
    runs: int,
    warm: bool,
) -> list[float]:
    """Upload ``path`` as the next ``runs`` days, one after another (after one more, not
    counted, if ``warm``); each day's time from upload to notification, printed as it comes."""
    bucket, queue = where
    rows = sum(1 for _ in path.open()) - 1
    if warm:
        seconds = upload_to_notification(s3, sqs, bucket, queue, path, next(days))
        print(f"warm-up day: {seconds:.2f}s (not counted)")
    times = []
    for _ in range(runs):
        day = next(days)
        times.append(upload_to_notification(s3, sqs, bucket, queue, path, day))
        print(f"{rows:>9,} rows  {day}  upload -> notification {times[-1]:.2f}s")
    return times


def single_process(path: Path, day: date, database_url: str) -> float:
    """DuckDB read + filter + two left joins + COPY into PostgreSQL, timed end to end."""
    started = time.monotonic()
    with tempfile.NamedTemporaryFile(suffix=".csv") as out:
        duckdb.sql(
            f"""
            COPY (
              SELECT f.Carrier, f.OriginAirportID, f.DestAirportID, d.name, a.name, d.city,
                     a.city, d.state, a.state, f.DepDelay, f.ArrDelay, DATE '{day}'
              FROM read_csv('{path}', header = true) f
              LEFT JOIN read_csv('{AIRPORTS}', header = true) d
                ON d.airport_id = f.OriginAirportID
              LEFT JOIN read_csv('{AIRPORTS}', header = true) a
                ON a.airport_id = f.DestAirportID
              WHERE f.DepDelay >= 60
            ) TO '{out.name}' (HEADER false)
            """
        )
        with psycopg.connect(database_url) as conn:
            conn.execute(f"CREATE TEMP TABLE reference_fact ({FACT})")
            with (
                conn.cursor().copy("COPY reference_fact FROM STDIN (FORMAT csv)") as copy,
                open(out.name, "rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    return time.monotonic() - started


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load_stack_env()
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket, queue = os.environ["DATA_BUCKET"], os.environ["ALERTS_QUEUE_URL"]
    database_url = os.environ["DATABASE_URL"]
    accept_airports(s3, bucket)
    drain(sqs, queue)
    days = iter(unseen_days(s3, bucket, 1 + len(args.rows) * args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        for index, rows in enumerate(args.rows):
            path = Path(tmp) / f"{rows}.csv"
            generate_day(path, FIRST_DAY, rows, seed=rows)
            times = timed_days(s3, sqs, (bucket, queue), path, days, args.runs, warm=index == 0)
            reference = statistics.median(
                single_process(path, FIRST_DAY, database_url) for _ in range(args.runs)
            )
            median = statistics.median(times)
            print(
                f"{rows:>9,} rows  median {median:.2f}s; single process (DuckDB + COPY) "
                f"{reference:.2f}s; ratio {median / reference:.1f}x"
            )
    pid = int((LOCAL_DIR / "stack.pid").read_text())
    children = descendants(pid)
    total = rss_mib(pid) + sum(rss_mib(c) for c in children)
    print(
        f"stack RSS: {total:.0f} MiB (server {rss_mib(pid):.0f} MiB, "
        f"{len(children)} child process(es) {total - rss_mib(pid):.0f} MiB)"
    )


if __name__ == "__main__":
    main()
