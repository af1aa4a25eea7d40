"""A warm Glue container's program: one Spark driver that runs Glue job scripts on request.

Started by the Glue service (``flightpipe.stack.glue_containers.WarmContainer``) as
``spark-submit glue_worker.py --port N`` in a container of the Glue image, with the Spark settings
a run's own container would get. It imports nothing of this project and nothing beyond Python's
standard library and PySpark, so AWS's image runs it as it is.

``POST /runs`` with ``{"run_id", "script", "argv", "py_files"}`` runs one job in a thread of its
own: the modules (``--extra-py-files``) are added with ``SparkContext.addPyFile`` (the driver's
``sys.path`` and the executors'), the script is loaded as a fresh module and its ``main(argv)``
is called with ``argv`` as ``sys.argv`` would be (the script first); a script without ``main``
runs as ``__main__`` with ``sys.argv`` set, one at a time. The answer streams what the run
prints, then ``# exit <code>``: 0 when it returned or exited 0, else 1 (with its traceback) or
its exit code. ``GET /health`` answers 200 once Spark is up (and, with ``--warm-up``, warm).

Runs share the driver, as the cells of a Glue interactive session do: a job must not stop the
SparkContext, and settings it changes on the session stay for later runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import os
import runpy
import sys
import tempfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EXIT_MARK = "# exit "
# Passes of warm_up: the JVM compiles Spark's hot paths over several runs, not one.
WARM_UP_PASSES = 4
# A bucket name no stack holds (AWS reserves the ``--ol-s3`` suffix for access point aliases).
S3A_PROBE = "s3://flightpipe-warmup--ol-s3/none/"
JVM_CHECK_SECONDS = 2.0
# flightpipe.settings.LOG_FORMAT: this file runs alone in the Glue image, where flightpipe is not.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_local = threading.local()
_main_lock = threading.Lock()
_files_lock = threading.Lock()
_added: dict[str, str] = {}


class ThreadOutput(io.TextIOBase):
    """``sys.stdout``/``sys.stderr``: a run's thread writes to its run's answer, others to the
    container's own output."""

    def __init__(self, fallback: Any):
        self.fallback = fallback

    def write(self, text: str) -> int:
        sink = getattr(_local, "sink", None)
        (sink or self.fallback).write(text)
        return len(text)

    def flush(self) -> None:
        sink = getattr(_local, "sink", None)
        (sink or self.fallback).flush()


class Answer:
    """What a run prints, sent line by line to the service."""

    def __init__(self, out: Any):
        self.out = out
        self.pending = ""

    def write(self, text: str) -> None:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        if lines:
            self.out.write("".join(f"{line}\n" for line in lines).encode("utf-8", "replace"))
            self.out.flush()

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.pending:
            self.write("\n")


def add_py_files(spark_context: Any, paths: list[str]) -> None:
    """The run's modules on the driver's and the executors' paths. A module already added from
    another path cannot be replaced in a running SparkContext: the run is refused."""
    with _files_lock:
        for path in paths:
            name = path.rsplit("/", 1)[-1]
            known = _added.get(name)
            if known == path:
                continue
            if known is not None:
                raise RuntimeError(
                    f"this warm Glue container has {name} from {known}, not {path}: a new "
                    "container is needed for the new modules"
                )
            spark_context.addPyFile(path)
            _added[name] = path


def run(request: dict[str, Any]) -> int:
    """Run one job; its exit code."""
    from pyspark import SparkContext

    argv = [request["script"], *request["argv"]]
    try:
        spark_context = SparkContext.getOrCreate()
        add_py_files(spark_context, list(request.get("py_files", [])))
        spark_context.setJobGroup(request["run_id"], f"Glue job run {request['run_id']}")
        name = f"glue_job_run_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, request["script"])
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {request['script']}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
            if callable(getattr(module, "main", None)):
                _by_value(module)
                module.main(argv)
            else:
                with _main_lock:
                    saved, sys.argv = sys.argv, argv
                    try:
                        runpy.run_path(request["script"], run_name="__main__")
                    finally:
                        sys.argv = saved
        finally:
            sys.modules.pop(name, None)
        return 0
    except SystemExit as stop:
        if stop.code in (None, 0):
            return 0
        if isinstance(stop.code, int):
            return stop.code
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1


def _by_value(module: Any) -> None:
    """Functions of the script reach the executors by value, as those of a script run as
    ``__main__`` do (the module is not importable there)."""
    try:
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(module)
    except (ImportError, AttributeError, ValueError):
        pass


def warm_up(spark: Any, passes: int = WARM_UP_PASSES) -> None:
    """Work of the jobs' shape, a few times over generated rows: a cold JVM compiles Spark's
    generated code on first use and its hot paths over the first runs, which would otherwise
    make the first job runs several times slower. Then S3A, asked for a path in a bucket no
    stack holds (the answer is an error, as meant), so its first use is paid here too."""
    from pyspark.sql import functions as F

    with tempfile.TemporaryDirectory(prefix="glue-worker-warm-up-") as scratch:
        day = os.path.join(scratch, "day.csv")
        with open(day, "w", encoding="utf-8") as out:
            out.write("Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\n")
            out.writelines(
                f"C{n % 7},{10 + n % 50},{10 + n % 40},{n % 120},{n % 90}\n" for n in range(4000)
            )
        airports = spark.createDataFrame(
            [(10 + n, f"City {n}", "ST", f"Airport {n}") for n in range(60)],
            "airport_id BIGINT, city STRING, state STRING, name STRING",
        )
        for number in range(passes):
            lines = spark.read.text(f"file://{day}").withColumn(
                "line", F.monotonically_increasing_id()
            )
            fields = F.split(F.col("value"), ",")
            parsed = (
                lines.where(F.col("line") > 0)
                .select(
                    fields[0].alias("carrier"),
                    fields[1].cast("bigint").alias("dep"),
                    fields[2].cast("bigint").alias("arr"),
                    fields[3].cast("bigint").alias("dep_delay"),
                    fields[4].cast("bigint").alias("arr_delay"),
                )
                .cache()
            )
            parsed.groupBy().agg(
                F.count("*"), F.sum(F.col("dep_delay").isNull().cast("int"))
            ).collect()
            departures = airports.select([F.col(c).alias(f"dep_{c}") for c in airports.columns])
            arrivals = airports.select([F.col(c).alias(f"arr_{c}") for c in airports.columns])
            delayed = (
                parsed.where(F.col("dep_delay") >= 60)
                .join(F.broadcast(departures), F.col("dep") == F.col("dep_airport_id"), "left")
                .join(F.broadcast(arrivals), F.col("arr") == F.col("arr_airport_id"), "left")
            )
            delayed.write.csv(f"file://{scratch}/pass-{number}")
            parsed.unpersist()
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(S3A_PROBE)
    with contextlib.suppress(Exception):  # the bucket does not exist: S3A's error, as meant
        path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the answer ends when the connection closes

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def do_POST(self) -> None:
        if self.path != "/runs":
            self.send_response(404)
            self.end_headers()
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.end_headers()
        answer = Answer(self.wfile)
        _local.sink = answer
        try:
            code = run(request)
        finally:
            answer.close()
            _local.sink = None
        self.wfile.write(f"{EXIT_MARK}{code}\n".encode())
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        print(f"glue worker: {format % args}", file=sys.__stderr__ or sys.stderr, flush=True)


def exit_with_jvm(spark_context: Any) -> None:
    """End this process when the Spark JVM it runs in ends (spark-submit's, of which it is a
    child): the JVM does not end it on its way out, and a worker without Spark serves nothing."""
    jvm = spark_context._jvm

    def watch() -> None:
        while True:
            time.sleep(JVM_CHECK_SECONDS)
            try:
                jvm.java.lang.System.currentTimeMillis()
            except Exception:  # py4j's network error: the JVM is gone, and with it the pipe
                os._exit(1)  # this process's output went to: nothing can be said

    threading.Thread(target=watch, name="exit-with-jvm", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--warm-up", action="store_true", help="run warm_up before serving")
    options = parser.parse_args()
    sys.stdout = ThreadOutput(sys.__stdout__)
    sys.stderr = ThreadOutput(sys.__stderr__)
    # A job's Python logging (INFO and up) goes to its run's output, as a run's own process
    # would print it; py4j's connection chatter does not.
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    exit_with_jvm(spark.sparkContext)
    if options.warm_up:
        started = time.monotonic()
        try:
            warm_up(spark)
            print(f"glue worker: warm after {time.monotonic() - started:.1f} s", flush=True)
        except Exception:  # runs still work, only slower at first
            traceback.print_exc()
    server = ThreadingHTTPServer((options.host, options.port), Handler)
    print(f"glue worker: ready on port {options.port}", file=sys.__stdout__, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
