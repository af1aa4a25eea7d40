"""Benchmark: upload -> success notification for one day, against single-process references.

Needs a running stack (``make local-up``; reads its ``stack.env``, in ``FLIGHTPIPE_STATE_DIR``
when set). For each ``--rows`` size, uploads ``--runs`` new days (each a date the stack has not
seen, so each is crawled, as a new day is on AWS) one after another and times each from the
start of the upload until the success notification for its object arrives on the alerts queue
(SNS -> SQS). The first day of the first size warms the path and is not counted. Prints each
time and the median per size.

Then, over the same generated files, two references, each loading the same rows into a table
of the fact's columns on the stack's PostgreSQL (COPY):

- bare PySpark (``spark_reference.py``: in a process and a Spark of its own, with the job
  runtime's session settings): CSV reader, DepDelay >= 60, two broadcast left joins, COPY; the
  median of ``--runs`` passes after a warm-up pass. The pipeline's median over it is the
  figure with a target (1,000,000 rows: at most 1.5x);
- DuckDB: the same query in one process, then COPY; printed for reference.

With two sizes or more, a floor for the largest: the smallest size's pipeline time plus the
bare script's extra time for the rows more, i.e. what the pipeline would take if its work per
row were no more than the bare script's and the rest of its path stayed as it is.

Last, the stack's memory: resident set size of LocalStack and its children (the Lambda
invocations), of the Glue service and its children (Spark's JVM), and their total, from
``/proc``; PostgreSQL apart.

    .venv/bin/python benchmarks/flow.py                        # 20,000 and 1,000,000 rows
    .venv/bin/python benchmarks/flow.py --rows 20000 --runs 5

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import psycopg
from local_stack import (
    AIRPORTS,
    accept_airports,
    deployed_pipeline,
    memory_lines,
    stack_values,
    wait_until_warm,
    yardstick_line,
)
from spark_reference import REFERENCE_TABLE

from flightpipe.commands.generate import generate_day
from flightpipe.settings import LocalSettings

SPARK_REFERENCE = Path(__file__).with_name("spark_reference.py")
FIRST_DAY = date(2016, 1, 1)
# The figure with a target: a 1,000,000-row day against bare PySpark.
TARGET_ROWS, SPARK_RATIO_TARGET = 1_000_000, 1.5


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
            conn.execute(REFERENCE_TABLE)
            with (
                conn.cursor().copy("COPY reference_fact FROM STDIN (FORMAT csv)") as copy,
                open(out.name, "rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
    return time.monotonic() - started


def bare_spark(paths: list[Path], database_url: str, runs: int) -> dict[Path, float]:
    """The median pass of ``spark_reference.py`` over each file, in a process of its own (a
    Spark of its own, warmed by one pass per file)."""
    result = subprocess.run(
        [sys.executable, str(SPARK_REFERENCE), database_url, *map(str, paths), "--runs", str(runs)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode != 0:
        raise SystemExit(f"spark_reference.py failed:\n{result.stderr[-4000:]}")
    medians = {}
    for line in result.stdout.splitlines():
        found = json.loads(line)
        medians[Path(found["path"])] = statistics.median(found["seconds"])
    return medians


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = LocalSettings.from_env()
    values = stack_values(settings)
    pipeline = deployed_pipeline()
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket, queue = pipeline.data_bucket, values["ALERTS_QUEUE_URL"]
    database_url = values["DATABASE_URL"]
    wait_until_warm(settings)
    accept_airports(pipeline)
    drain(sqs, queue)
    days = iter(unseen_days(s3, bucket, 1 + len(args.rows) * args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        files, medians = {}, {}
        for index, rows in enumerate(args.rows):
            files[rows] = Path(tmp) / f"{rows}.csv"
            generate_day(files[rows], FIRST_DAY, rows, seed=rows)
            times = timed_days(
                s3, sqs, (bucket, queue), files[rows], days, args.runs, warm=index == 0
            )
            medians[rows] = statistics.median(times)
        duck = {
            rows: statistics.median(
                single_process(path, FIRST_DAY, database_url) for _ in range(args.runs)
            )
            for rows, path in files.items()
        }
        spark = bare_spark(list(files.values()), database_url, args.runs)
    for rows, median in medians.items():
        reference = spark[files[rows]]
        target = f" (target {SPARK_RATIO_TARGET}x)" if rows == TARGET_ROWS else ""
        print(
            f"{rows:>9,} rows  pipeline median {median:.2f}s; bare PySpark + COPY "
            f"{reference:.2f}s, ratio {median / reference:.1f}x{target}; "
            f"DuckDB + COPY {duck[rows]:.2f}s, ratio {median / duck[rows]:.0f}x"
        )
    if len(medians) > 1:
        print(floor_line(medians, {rows: spark[path] for rows, path in files.items()}))
    print("\n".join(memory_lines(settings)))
    print(yardstick_line())


def floor_line(pipeline: dict[int, float], bare: dict[int, float]) -> str:
    """What the smallest size says about the largest: the pipeline's time at the smallest size
    plus what the bare script needs for the rows more. A pipeline whose work per row were the
    bare script's, and all of whose other work (event, handler, states, crawl, job set-up,
    swap, notification) cost what it costs now, would take that long at the largest size."""
    small, large = min(pipeline), max(pipeline)
    extra = bare[large] - bare[small]
    floor = pipeline[small] + extra
    return (
        f"floor at {large:,} rows for the same path with the bare script's work per row: "
        f"{floor:.2f}s (the {small:,}-row day's {pipeline[small]:.2f}s + the bare script's "
        f"{extra:.2f}s for the rows more), {floor / bare[large]:.1f}x the bare script"
    )


if __name__ == "__main__":
    main()
