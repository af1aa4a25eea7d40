"""The project's Glue service: the Glue API that LocalStack forwards to, and the dashboard.

Community LocalStack has no Glue. Its gateway hands every Glue request to the project's
provider plugin (``localstack/flightpipe_localstack/glue.py``), which forwards it here. This
process serves moto's Glue (the Data Catalog, crawler and job definitions, connections) with
real behaviour where moto has none (``flightpipe.stack.glue``): crawls really crawl, job runs
really run ``glue_job/`` on a Spark kept warm in this process, or, with
``FLIGHTPIPE_GLUE_RUNNER=containers`` (the compose stack), in containers of the Glue image.
Everything else AWS does (S3, Step Functions, Lambda, SNS, ...) is LocalStack's: crawls and job
runs reach it through ``AWS_ENDPOINT_URL``, so they read and write LocalStack's S3.

It also answers, under ``/_flightpipe/`` (LocalStack routes that prefix here too):
``health`` (``{"status": "ok", "spark": ...}``) and the dashboard (``flightpipe.stack.dashboard``).
Run it with ``python -m flightpipe.stack.glue_service --port <port> --aws-endpoint <LocalStack>``;
``flightpipe local up`` does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flightpipe.paths import LOCAL_DIR, SAMPLE_DIR
from flightpipe.settings import DEFAULT_REGION, LOCAL_CREDENTIALS, LOG_FORMAT
from flightpipe.stack.dashboard import DASHBOARD_PATH, Dashboard

if TYPE_CHECKING:
    from flightpipe.stack.glue_containers import ContainerJobs

log = logging.getLogger("flightpipe.stack")

HEALTH_PATH = "/_flightpipe/health"
# How long a thread may hold the interpreter while another waits for it (Python's default is
# 5 ms). A job run's driver makes a thousand short calls into Spark's JVM, each giving the
# interpreter up and waiting to get it back; beside the server's busy threads each wait could
# last the whole interval.
SWITCH_INTERVAL_SECONDS = 0.0005
# Job runs at once: in this process they share one warm Spark; in containers they share the
# warm container's (or each starts a JVM of its own), so no more than the cores (more at once
# than the cores made `make compose-e2e` slower, docs/performance.md). Others wait in STARTING.
IN_PROCESS_RUNS = 4
CONTAINER_RUNS = max(2, os.cpu_count() or 2)
# glibc's allocator settings the launcher gives this process (``flightpipe.stack.local``).
# The Spark JVM started from here does not inherit them: with them its large runs are slower
# (docs/performance.md), and the JVM manages its own memory.
MALLOC_VARIABLES = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")


class SparkWarmer:
    """Starts the job runtime's Spark and runs the job's transforms once, in the background."""

    def __init__(self) -> None:
        self.state = "starting"
        self.seconds: float | None = None

    def start(self) -> None:
        threading.Thread(target=self._warm, name="spark-warmup", daemon=True).start()

    def _warm(self) -> None:
        started = time.monotonic()
        try:
            from flightpipe.stack.warmup import warm_up

            warm_up(SAMPLE_DIR)
            self.state = "warm"
        except Exception as error:  # the service still serves; job runs will start Spark
            log.exception("Spark warm-up failed")
            self.state = f"failed: {error}"
        self.seconds = round(time.monotonic() - started, 1)
        log.info("Spark %s after %.1fs", self.state, self.seconds)


class FlightpipePaths:
    """Answers the health path and the dashboard's; everything else goes to moto's Glue."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        warmer: SparkWarmer | None,
        dashboard: Dashboard,
    ):
        self.app = app
        self.warmer = warmer
        self.dashboard = dashboard

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        page = self.dashboard.answer(path, environ.get("QUERY_STRING", ""))
        if page is not None:
            status, content_type, content = page
            start_response(
                status, [("Content-Type", content_type), ("Content-Length", str(len(content)))]
            )
            return [content]
        if path != HEALTH_PATH:
            return self.app(environ, start_response)
        answer: dict[str, Any] = {
            "status": "ok",
            "pid": os.getpid(),
            "spark": self.warmer.state if self.warmer else "in Glue containers",
            "spark_seconds": self.warmer.seconds if self.warmer else None,
        }
        body = json.dumps(answer).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def configure_environment(aws_endpoint: str, region: str) -> None:
    """Point this process's own AWS clients (crawls, job runs, the dashboard) at LocalStack."""
    os.environ["AWS_ENDPOINT_URL"] = aws_endpoint
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)


def install_behaviour(
    log_dir: Path, code_dir: Path, containers: ContainerJobs | None = None
) -> None:
    """Patch moto's Glue so crawls and job runs really happen, on the environment's clock."""
    from flightpipe_localstack import clock

    from flightpipe.stack import glue

    clock.use(clock.from_environment())
    glue.install(
        log_dir,
        code_dir,
        workers=CONTAINER_RUNS if containers else IN_PROCESS_RUNS,
        containers=containers,
    )


def configure_logging(log_file: Path | None = None) -> None:
    """The process's one logging configuration: a timestamped handler on the root logger, which
    every logger reaches (the per-run logs of job runs are root handlers too), and the same
    records in ``log_file`` when given."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(handler)
    logging.captureWarnings(True)
    for noisy in ("werkzeug", "botocore", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def serve(
    port: int,
    aws_endpoint: str,
    region: str,
    log_dir: Path,
    host: str = "127.0.0.1",
) -> None:
    """Serve until SIGTERM or SIGINT."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    configure_environment(aws_endpoint, region)
    code_dir = log_dir.parent / "glue-code"
    containers = job_containers(code_dir)
    install_behaviour(log_dir, code_dir, containers)
    warmer = SparkWarmer() if containers is None else None
    dashboard = Dashboard(aws_endpoint, log_dir)
    app = FlightpipePaths(create_backend_app("glue"), warmer, dashboard)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if warmer is not None:
        warmer.start()
    log.info("Glue service on %s:%d (pid %d), AWS at %s", host, port, os.getpid(), aws_endpoint)
    log.info("dashboard: %s%s", aws_endpoint, DASHBOARD_PATH)
    try:
        server.serve_forever()
    finally:
        if containers is not None:
            containers.close()
    log.info("Glue service stopped")


def job_containers(code_dir: Path) -> ContainerJobs | None:
    """Where Glue job runs go: containers of the Glue image when ``FLIGHTPIPE_GLUE_RUNNER`` is
    ``containers`` (the compose stack), else this process (None)."""
    runner = os.environ.get("FLIGHTPIPE_GLUE_RUNNER", "in-process")
    if runner == "in-process":
        return None
    if runner != "containers":
        raise SystemExit(
            f"FLIGHTPIPE_GLUE_RUNNER={runner!r}: expected 'in-process' (default) or 'containers'"
        )
    from flightpipe.stack.glue_containers import ContainerJobs

    jobs = ContainerJobs.from_environment(code_dir)
    log.info("Glue job runs in containers of %s (%s)", jobs.image, jobs.placement)
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--aws-endpoint", required=True, help="LocalStack, e.g. http://127.0.0.1:4566"
    )
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--log-dir", type=Path, default=LOCAL_DIR / "logs")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--log-file", type=Path, help="also write the service's log here")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args.log_file)
    for name in MALLOC_VARIABLES:  # read by glibc at this process's start; not for Spark's JVM
        os.environ.pop(name, None)
    serve(args.port, args.aws_endpoint, args.region, args.log_dir, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
