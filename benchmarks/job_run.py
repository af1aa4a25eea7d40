"""Benchmark: wall time of a Glue job run on the local stack, StartJobRun to SUCCEEDED.

Needs a running stack (``make local-up``; reads its ``stack.env``, in ``FLIGHTPIPE_STATE_DIR``
when set) and waits until its Spark is warm. Uploads a generated day of ``--rows`` flights,
waits until the execution the upload started has ended (so that no run of the pipeline's own
shares the machine), crawls, then runs the job ``--runs`` times and prints each time and the
median of the runs after the first (a warm run over 20,000 rows).

    .venv/bin/python benchmarks/job_run.py --rows 20000 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import boto3
from local_stack import accept_airports, deployed_pipeline, stack_values, wait_until_warm

from flightpipe.commands.generate import generate_day
from flightpipe.infra import executions
from flightpipe.infra.executions import upload_execution_arn
from flightpipe.settings import LocalSettings


def wait_crawler(glue, name: str) -> None:
    while glue.get_crawler(Name=name)["Crawler"]["State"] != "READY":
        time.sleep(0.05)


def crawl(glue, name: str) -> None:
    """A crawl of our own (the upload's own execution may be crawling already)."""
    while True:
        wait_crawler(glue, name)
        try:
            glue.start_crawler(Name=name)
            break
        except glue.exceptions.CrawlerRunningException:
            continue
    wait_crawler(glue, name)


def run_once(glue, job: str, day: str) -> float:
    started = time.monotonic()
    run_id = glue.start_job_run(JobName=job, Arguments={"--flight_date": day})["JobRunId"]
    while True:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if run["JobRunState"] in ("SUCCEEDED", "FAILED", "ERROR", "TIMEOUT", "STOPPED"):
            break
        time.sleep(0.05)
    if run["JobRunState"] != "SUCCEEDED":
        raise SystemExit(f"run {run_id} {run['JobRunState']}: {run.get('ErrorMessage')}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--day", default="2013-03-01")
    args = parser.parse_args()
    settings = LocalSettings.from_env()
    stack_values(settings)
    pipeline = deployed_pipeline()
    s3, glue, sfn = boto3.client("s3"), boto3.client("glue"), boto3.client("stepfunctions")
    bucket = pipeline.data_bucket
    wait_until_warm(settings)
    accept_airports(pipeline)
    key = f"daily_flights/date={args.day}/flights.csv"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flights.csv"
        generate_day(path, date.fromisoformat(args.day), args.rows)
        s3.upload_file(str(path), bucket, key)
    stored = s3.head_object(Bucket=bucket, Key=key)
    machine = pipeline.state_machine_arn
    arn = upload_execution_arn(machine, bucket, key, stored, date.fromisoformat(args.day))
    if arn not in executions.wait(sfn, [arn], timeout=600.0, poll_seconds=0.5):
        raise SystemExit(f"no execution for {key} ended within 600s")
    crawl(glue, pipeline.crawler)
    times = [run_once(glue, pipeline.job, args.day) for _ in range(args.runs)]
    for index, seconds in enumerate(times, start=1):
        print(f"run {index}: {seconds:.2f}s")
    warm = times[1:] or times
    print(
        f"{args.rows} rows: median warm run {statistics.median(warm):.2f}s "
        f"(min {min(warm):.2f}s, max {max(warm):.2f}s)"
    )


if __name__ == "__main__":
    main()
