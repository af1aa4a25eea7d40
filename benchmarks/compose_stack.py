"""Benchmark: the compose stack's start-up, and a day's latency with the job in the Glue image.

Brings the compose stack up as ``make compose-up`` does (images built before, so the time is
starting PostgreSQL, the Glue service and LocalStack, and deploying the pipeline), accepts the
airports dimension, then uploads ``--runs`` new days of ``--rows`` generated rows one after another
and times each from the start of the upload until its success notification (the job runs in the warm
container of the Glue image, or in one of its own with ``FLIGHTPIPE_GLUE_CONTAINERS=per-run``). The
first day is a warm-up and not counted. Then takes the stack down and times that. Uses the stand-ins
when ``make compose-standins`` recorded them (in ``.local/``, or in the state folder). The project,
ports and state folder are compose's usual ones (``COMPOSE_PROJECT_NAME``,
``FLIGHTPIPE_STACK_PORT``, ``FLIGHTPIPE_POSTGRES_PORT``, ``FLIGHTPIPE_STATE_DIR``), so that another
stack is left alone when they are set.

    .venv/bin/python benchmarks/compose_stack.py --rows 20000 --runs 3

Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import boto3
from flow import FIRST_DAY, drain, timed_days, unseen_days
from local_stack import accept_airports, deployed_pipeline, stack_values

from flightpipe.commands.generate import generate_day
from flightpipe.devenv import compose
from flightpipe.settings import LocalSettings
from flightpipe.stack.local import read_env_file


def use_recorded_standins(settings: LocalSettings) -> None:
    """The stand-in images ``make compose-standins`` recorded in ``.local/`` for a stack kept
    in another state folder (compose reads the folder's own record, and the environment)."""
    recorded = compose.images_env_file(LocalSettings())
    if not compose.images_env_file(settings).is_file() and recorded.is_file():
        for key, value in read_env_file(recorded).items():
            os.environ.setdefault(key, value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the stack up")
    args = parser.parse_args()
    settings = LocalSettings.from_env()
    use_recorded_standins(settings)
    started = time.monotonic()
    try:
        compose.up(settings)
        print(f"compose up (healthy and deployed): {time.monotonic() - started:.1f}s")
        values = stack_values(settings)
        pipeline = deployed_pipeline()
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
        bucket, queue = pipeline.data_bucket, values["ALERTS_QUEUE_URL"]
        accept_airports(pipeline)
        drain(sqs, queue)
        days = iter(unseen_days(s3, bucket, 1 + args.runs))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "day.csv"
            generate_day(path, FIRST_DAY, args.rows, seed=args.rows)
            times = timed_days(s3, sqs, (bucket, queue), path, days, args.runs, warm=True)
        mode = os.environ.get("FLIGHTPIPE_GLUE_CONTAINERS", "warm")
        median = statistics.median(times)
        print(f"{args.rows:>9,} rows  median {median:.2f}s (Glue containers: {mode})")
    finally:
        if not args.keep:
            stopping = time.monotonic()
            compose.down(settings)
            print(f"compose down: {time.monotonic() - stopping:.1f}s")


if __name__ == "__main__":
    main()
