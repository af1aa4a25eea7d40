"""Benchmark: the day job's driver memory as the day grows (1M and 10M rows, in 10 files each).

The job reads a day with Spark's text reader and keeps one small row per file on the driver
(``flight_io.read_lines``), so its driver's memory should not grow with the day. Each size runs
in a fresh process: ``glue_job/delayed_flights.py`` through the local Glue runtime
(``flightpipe.gluelocal.runner.run_job``), against a moto server in a process of its own (so
that moto's copy of the objects is not counted) and a throwaway PostgreSQL. Spark runs as
``local-cluster[2,1,1024]``: two executor JVMs apart from the driver's, as on a Glue cluster (in
``local[*]`` one JVM is driver and executors at once, and its memory is mostly the executors'
cache and shuffle buffers). Figures are peak resident set sizes, ``VmHWM`` in
``/proc/<pid>/status``:

- Python driver: the process that runs the job (``main()``, boto3, the collected rows);
- JVM driver: the driver JVM (PySpark's py4j gateway process), with its RSS once Spark started;
- executors, for comparison: each executor JVM (a child of the driver JVM), read before Spark
  stops.

    .venv/bin/python benchmarks/job_memory.py                       # 1M and 10M rows, 10 files
    .venv/bin/python benchmarks/job_memory.py --rows 1000000 --files 10

The data comes from ``flightpipe.generate`` (one seed per file). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from flightpipe.config import REPO
from flightpipe.generate import generate_day
from flightpipe.postgres import free_port, throwaway
from flightpipe.warehouse import PostgresWarehouse

SCRIPT = REPO / "glue_job" / "delayed_flights.py"
BUCKET = "flights-data"
DATABASE = "flights_catalog"
TABLE = "daily_flights"
CONNECTION = "warehouse"
ACCEPTED_AIRPORTS = "accepted/airports.csv"
MASTER = "local-cluster[2,1,1024]"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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
    """Run the job once over ``options.day`` and print the figures as one JSON line."""
    from flightpipe.gluelocal.runner import local_spark, run_job

    spark = local_spark("job-memory", master=options.master)
    jvm = spark.sparkContext._gateway.proc.pid
    started = {"python_kb": status_kb(os.getpid(), "VmRSS"), "jvm_kb": status_kb(jvm, "VmRSS")}
    clock = time.monotonic()
    report = run_job(
        SCRIPT,
        {
            "JOB_NAME": "delayed-flights",
            "JOB_RUN_ID": f"jr_memory_{options.day}",
            "flight_date": options.day,
            "data_bucket": BUCKET,
            "catalog_database": DATABASE,
            "flights_table": TABLE,
            "connection_name": CONNECTION,
            "warehouse_database": options.database,
            "accepted_airports_key": ACCEPTED_AIRPORTS,
            "TempDir": f"s3://{BUCKET}/glue-temp/",
        },
    )
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


def start_moto(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the moto server did not answer on port {port}; see {log}")


def provision(database_url: str) -> None:
    """Bucket, accepted dimension, Glue connection and the catalog table, as the job expects."""
    s3, glue = boto3.client("s3"), boto3.client("glue")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(REPO / "sample_data" / "airports.csv"), BUCKET, ACCEPTED_AIRPORTS)
    parts = urlsplit(database_url)
    glue.create_connection(
        ConnectionInput={
            "Name": CONNECTION,
            "ConnectionType": "JDBC",
            "ConnectionProperties": {
                "JDBC_CONNECTION_URL": f"jdbc:postgresql://{parts.hostname}:{parts.port}{parts.path}",
                "USERNAME": parts.username or "",
                **({"PASSWORD": parts.password} if parts.password else {}),
            },
        }
    )
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": TABLE,
            "StorageDescriptor": {"Columns": [], "Location": f"s3://{BUCKET}/daily_flights/"},
            "PartitionKeys": [{"Name": "date", "Type": "string"}],
        },
    )


def upload_day(day: date, rows: int, files: int, scratch: Path) -> None:
    """``rows`` generated flights in ``files`` objects under the day's partition."""
    s3, glue = boto3.client("s3"), boto3.client("glue")
    prefix = f"daily_flights/date={day.isoformat()}/"
    for number in range(files):
        path = scratch / f"part-{number:02d}.csv"
        share = rows // files + (1 if number < rows % files else 0)
        generate_day(path, day, share, seed=number)
        s3.upload_file(str(path), BUCKET, f"{prefix}part-{number:02d}.csv")
        path.unlink()
    glue.create_partition(
        DatabaseName=DATABASE,
        TableName=TABLE,
        PartitionInput={
            "Values": [day.isoformat()],
            "StorageDescriptor": {"Location": f"s3://{BUCKET}/{prefix}"},
        },
    )


def measure(day: date, database: str, master: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--day", day.isoformat()]
    result = subprocess.run(
        [*command, "--database", database, "--master", master],
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
    parser.add_argument("--day", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options)
        return

    work = REPO / ".local" / "tmp" / f"job-memory-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    port = free_port()
    os.environ.update({**CREDENTIALS, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    moto = start_moto(port, work / "moto.log")
    try:
        with throwaway(work / "postgres") as cluster:
            PostgresWarehouse(cluster.url).apply_schema()
            provision(cluster.url)
            database = urlsplit(cluster.url).path.lstrip("/")
            print(
                f"{'rows':>11} {'files':>5} {'seconds':>7}  {'python driver MB':>16}  "
                f"{'JVM driver MB':>13}  {'JVM driver at start':>19}  executors MB (peak)"
            )
            for number, rows in enumerate(options.rows):
                day = date(2013, 3, 1) + timedelta(days=number)
                with tempfile.TemporaryDirectory(dir=work) as scratch:
                    upload_day(day, rows, options.files, Path(scratch))
                f = measure(day, database, options.master)
                print(
                    f"{f['rows_read']:>11,} {f['files']:>5} {f['seconds']:>7}  "
                    f"{mb(f['python_peak_kb']):>16}  {mb(f['jvm_peak_kb']):>13}  "
                    f"{mb(f['jvm_start_kb']):>19}  "
                    f"{', '.join(mb(kb) for kb in f['executor_peak_kb'])}",
                    flush=True,
                )
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
