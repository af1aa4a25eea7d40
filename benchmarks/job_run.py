"""Benchmark: wall time of a Glue job run on the local stack, StartJobRun to SUCCEEDED.

Needs a running stack (``make local-up``; reads ``.local/stack.env``). Uploads a generated day
of ``--rows`` flights, crawls it, then runs the job ``--runs`` times and prints each time and
the median of the runs after the first (the issue's figure: a warm run over 20,000 rows).

    .venv/bin/python benchmarks/job_run.py --rows 20000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import boto3
from stack_client import accept_airports, load_stack_env

from flightpipe.generate import generate_day


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
    load_stack_env()
    s3, glue = boto3.client("s3"), boto3.client("glue")
    bucket = os.environ["DATA_BUCKET"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flights.csv"
        generate_day(path, date.fromisoformat(args.day), args.rows)
        s3.upload_file(str(path), bucket, f"daily_flights/date={args.day}/flights.csv")
    accept_airports(s3, bucket)
    crawl(glue, os.environ["GLUE_CRAWLER_NAME"])
    times = [run_once(glue, os.environ["GLUE_JOB_NAME"], args.day) for _ in range(args.runs)]
    for index, seconds in enumerate(times, start=1):
        print(f"run {index}: {seconds:.2f}s")
    warm = times[1:] or times
    print(
        f"{args.rows} rows: median warm run {statistics.median(warm):.2f}s "
        f"(min {min(warm):.2f}s, max {max(warm):.2f}s)"
    )


if __name__ == "__main__":
    main()
