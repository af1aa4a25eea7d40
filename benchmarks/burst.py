"""Benchmark: thirty days uploaded at once, until every one is loaded.

Needs a running stack (``make local-up``; reads its ``stack.env``, in ``FLIGHTPIPE_STATE_DIR``
when set) and waits until its Spark is warm. Generates ``--days`` days of ``--rows`` flights,
uploads them all within a few seconds from parallel threads, waits until every execution they
started has ended, then checks that each day was loaded exactly once (one SUCCEEDED run in the
run table, fact rows equal to that run's count) and prints how long the burst took to settle,
then the stack's memory (as ``flow.py`` prints it).

    .venv/bin/python benchmarks/burst.py --days 30 --rows 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import psycopg
from local_stack import (
    accept_airports,
    deployed_pipeline,
    memory_lines,
    stack_values,
    wait_until_warm,
    yardstick_line,
)

from flightpipe.commands.generate import generate_day
from flightpipe.settings import LocalSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--first-day", default="2015-06-01")
    args = parser.parse_args()
    settings = LocalSettings.from_env()
    values = stack_values(settings)
    pipeline = deployed_pipeline()
    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    bucket, machine = pipeline.data_bucket, pipeline.state_machine_arn
    days = [date.fromisoformat(args.first_day) + timedelta(d) for d in range(args.days)]
    wait_until_warm(settings)
    accept_airports(pipeline)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for day in days:
            path = Path(tmp) / f"{day}.csv"
            generate_day(path, day, args.rows, seed=day.toordinal())
            files[day] = path
        started = time.monotonic()
        burst_began = datetime.now(UTC).replace(tzinfo=None)

        def put(day: date) -> tuple[str, str]:
            key = f"daily_flights/date={day}/flights.csv"
            s3.upload_file(str(files[day]), bucket, key)
            return key, s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')

        with ThreadPoolExecutor(max_workers=8) as pool:
            uploads = dict(pool.map(put, days))
    uploaded = time.monotonic() - started
    pending, ended = dict(uploads), {}
    # Each execution is described once, for its input; its status comes from the listing, so
    # that watching adds one call a second to the stack's load, not one per execution.
    inputs: dict[str, dict[str, str]] = {}
    while pending and time.monotonic() - started < 1800:
        listed = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
        for item in (item for page in listed for item in page["executions"]):
            if item["startDate"].astimezone(UTC).replace(tzinfo=None) < burst_began:
                continue  # an earlier upload of the same bytes (same ETag) on this stack
            arn = item["executionArn"]
            if arn not in inputs:
                inputs[arn] = json.loads(sfn.describe_execution(executionArn=arn)["input"])
            started_with = inputs[arn]
            if (
                pending.get(started_with.get("key")) == started_with.get("etag")
                and item["status"] != "RUNNING"
            ):
                ended[started_with["key"]] = item["status"]
                del pending[started_with["key"]]
                print(
                    f"  {len(ended)}/{len(days)} days settled, "
                    f"{time.monotonic() - started:.0f}s elapsed",
                    flush=True,
                )
        time.sleep(1)
    settled = time.monotonic() - started
    with psycopg.connect(values["DATABASE_URL"]) as conn:
        runs = conn.execute(
            "SELECT flight_date, count(*), max(rows_loaded) FROM airlines.pipeline_runs "
            "WHERE flight_date = ANY(%s) AND status = 'SUCCEEDED' AND started_at >= %s GROUP BY 1",
            (days, burst_began),
        ).fetchall()
        facts = dict(
            conn.execute(
                "SELECT flight_date, count(*) FROM airlines.daily_flights_fact "
                "WHERE flight_date = ANY(%s) GROUP BY 1",
                (days,),
            ).fetchall()
        )
    exactly_once = len(runs) == len(days) and all(
        count == 1 and facts.get(day, 0) == loaded for day, count, loaded in runs
    )
    statuses = sorted(set(ended.values()))
    print(
        f"{len(days)} days x {args.rows} rows: uploaded in {uploaded:.1f}s, "
        f"settled in {settled:.1f}s; executions {statuses}, {len(pending)} unfinished; "
        f"each day loaded once: {exactly_once}"
    )
    print("\n".join(memory_lines(settings)))
    print(yardstick_line())


if __name__ == "__main__":
    main()
