"""Benchmark: the day job's driver memory as the day grows (1M and 10M rows, in 10 files each).

The job reads a day with Spark's text reader and keeps one small row per file on the driver
(``aws_io.read_lines``), so its driver's memory should not grow with the day. Each size runs
in a fresh process: ``glue_job/delayed_flights.py`` through the local Glue runtime
(``flightpipe.gluelocal.runner.run_job``) with the deployed day job's arguments, against a
running stack (``make local-up``; its ``stack.env``, in ``FLIGHTPIPE_STATE_DIR`` when set): the
objects are in LocalStack's S3, in a process of its own, so their copy is not counted, and the
rows go to the stack's PostgreSQL. The day's files go under a prefix of their own
(``--flights_prefix``, for a day the catalog has no partition of), so no upload rule fires and
no run of the stack's own shares the machine; they are deleted at the end, the loaded rows and
run records stay. Spark runs as ``local-cluster[2,1,1024]``: two executor JVMs apart from the
driver's, as on a Glue cluster (in ``local[*]`` one JVM is driver and executors at once, and
its memory is mostly the executors' cache and shuffle buffers). Figures are peak resident set
sizes, ``VmHWM`` in ``/proc/<pid>/status``:

- Python driver: the process that runs the job (``main()``, boto3, the collected rows);
- JVM driver: the driver JVM (PySpark's py4j gateway process), with its RSS once Spark started;
- executors, for comparison: each executor JVM (a child of the driver JVM), read before Spark
  stops.

    .venv/bin/python benchmarks/job_memory.py                       # 1M and 10M rows, 10 files
    .venv/bin/python benchmarks/job_memory.py --rows 1000000 --files 10

The data comes from ``flightpipe.commands.generate`` (one seed per file). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
from local_stack import accept_airports, deployed_pipeline, stack_values

from flightpipe.commands.generate import generate_day
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings

SCRIPT = REPO / "glue_job" / "delayed_flights.py"
PREFIX = "benchmarks/job-memory/"
FIRST_DAY = date(2012, 3, 1)
MASTER = "local-cluster[2,1,1024]"


def status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmHWM: peak RSS; VmRSS: current RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


# --- the measured process -----------------------------------------------------------------


def child(options: argparse.Namespace) -> None:
    """Run the job once with ``options.arguments`` and print the figures as one JSON line."""
    from flightpipe.gluelocal.runner import local_spark, run_job

    spark = local_spark("job-memory", master=options.master)
    jvm = spark.sparkContext._gateway.proc.pid
    started = {"python_kb": status_kb(os.getpid(), "VmRSS"), "jvm_kb": status_kb(jvm, "VmRSS")}
    clock = time.monotonic()
    report = run_job(SCRIPT, json.loads(options.arguments))
    seconds = time.monotonic() - clock
    executors = [
        status_kb(pid, "VmHWM")
        for pid in children(jvm)
        if b"CoarseGrainedExecutorBackend" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    figures = {
        "rows_read": report["rows_read"],
        "rows_loaded": report["rows_loaded"],
        "files": len(report["sources"]),
        "seconds": round(seconds, 1),
        "python_start_kb": started["python_kb"],
        "python_peak_kb": status_kb(os.getpid(), "VmHWM"),
        "jvm_start_kb": started["jvm_kb"],
        "jvm_peak_kb": status_kb(jvm, "VmHWM"),
        "executor_peak_kb": executors,
    }
    print("FIGURES " + json.dumps(figures), flush=True)
    spark.stop()


# --- the harness ----------------------------------------------------------------------------


def free_days(glue: Any, database: str, table: str, count: int) -> list[date]:
    """``count`` days from FIRST_DAY on that the catalog has no partition of (the job reads
    a day's partition location when the crawler registered one)."""
    days, day = [], FIRST_DAY
    while len(days) < count:
        try:
            glue.get_partition(
                DatabaseName=database,
                TableName=table,
                PartitionValues=[day.isoformat()],
            )
        except glue.exceptions.EntityNotFoundException:
            days.append(day)
        day += timedelta(1)
    return days


def upload_day(s3: Any, bucket: str, day: date, rows: int, files: int, scratch: Path) -> list[str]:
    """``rows`` generated flights in ``files`` objects under the day's folder; their keys."""
    keys = []
    for number in range(files):
        path = scratch / f"part-{number:02d}.csv"
        share = rows // files + (1 if number < rows % files else 0)
        generate_day(path, day, share, seed=number)
        keys.append(f"{PREFIX}date={day.isoformat()}/part-{number:02d}.csv")
        s3.upload_file(str(path), bucket, keys[-1])
        path.unlink()
    return keys


def measure(arguments: dict[str, str], master: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--master", master]
    result = subprocess.run(
        [*command, "--arguments", json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    for line in result.stdout.splitlines():
        if line.startswith("FIGURES "):
            figures: dict[str, Any] = json.loads(line.removeprefix("FIGURES "))
            return figures
    raise SystemExit(f"the job run failed:\n{result.stderr[-4000:]}")


def mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--master", default=MASTER, help=f"Spark master (default {MASTER})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arguments", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options)
        return

    stack_values(LocalSettings.from_env())
    pipeline = deployed_pipeline()
    s3, glue = boto3.client("s3"), boto3.client("glue")
    accept_airports(pipeline)
    # The deployed job's arguments, as Glue passes them to a run of it.
    defaults = glue.get_job(JobName=pipeline.job)["Job"]["DefaultArguments"]
    days = free_days(
        glue, defaults["--catalog_database"], defaults["--flights_table"], len(options.rows)
    )
    print(
        f"{'rows':>11} {'files':>5} {'seconds':>7}  {'python driver MB':>16}  "
        f"{'JVM driver MB':>13}  {'JVM driver at start':>19}  executors MB (peak)"
    )
    for day, rows in zip(days, options.rows, strict=True):
        keys: list[str] = []
        try:
            with tempfile.TemporaryDirectory() as scratch:
                keys = upload_day(s3, pipeline.data_bucket, day, rows, options.files, Path(scratch))
            arguments = {
                **defaults,
                "--JOB_NAME": pipeline.job,
                "--JOB_RUN_ID": f"jr_memory_{uuid.uuid4().hex}",
                "--flight_date": day.isoformat(),
                "--flights_prefix": PREFIX,
            }
            f = measure(arguments, options.master)
        finally:
            for key in keys:
                s3.delete_object(Bucket=pipeline.data_bucket, Key=key)
        print(
            f"{f['rows_read']:>11,} {f['files']:>5} {f['seconds']:>7}  "
            f"{mb(f['python_peak_kb']):>16}  {mb(f['jvm_peak_kb']):>13}  "
            f"{mb(f['jvm_start_kb']):>19}  "
            f"{', '.join(mb(kb) for kb in f['executor_peak_kb'])}",
            flush=True,
        )


if __name__ == "__main__":
    main()
