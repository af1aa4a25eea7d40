"""The local AWS stack process: moto's server plus real behaviour where moto has none.

One process serves the AWS API on 127.0.0.1 (``AWS_ENDPOINT_URL`` for boto3, ``--endpoint-url``
for the AWS CLI, ``localstack-client`` on port 4566). Inside it:

* Step Functions executions really run (moto's interpreter, with ``sfn_workarounds``); the
  interpreter calls integrations at ``localhost:$MOTO_PORT``, set here to the served port;
* Glue crawls and job runs really happen (``flightpipe.stack.glue``), jobs on a warm Spark;
* S3 events reach EventBridge rules and their targets (``flightpipe.stack.events``), Lambda
  targets being Python handlers called in-process (a Chalice app's, see ``lambdas``).

``GET /_flightpipe/health`` answers ``{"status": "ok", "spark": ...}`` once the API serves.
Run it with ``python -m flightpipe.stack.server --port 4566``; ``flightpipe local up`` does.

In a container (localstack/Dockerfile, docker-compose.yml) it also runs LocalStack's init hooks
(``--init-dir``, ``flightpipe.stack.init_hooks``) once it serves, answers LocalStack's
``GET /_localstack/init/ready``, and, with ``FLIGHTPIPE_GLUE_RUNNER=containers``, runs each Glue
job in a container of the Glue image (``flightpipe.stack.glue_containers``) instead of on a warm
Spark of its own.
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

from flightpipe.config import REPO
from flightpipe.stack.dashboard import DASHBOARD_PATH, Dashboard
from flightpipe.stack.init_hooks import INIT_READY_PATH, PROVISIONED_PATH, InitHooks

if TYPE_CHECKING:
    from flightpipe.stack.glue_containers import ContainerJobs

log = logging.getLogger("flightpipe.stack")

HEALTH_PATH = "/_flightpipe/health"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Credentials the stack and its job runs use; moto accepts any.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
# How long a thread may hold the interpreter while another waits for it (Python's default is
# 5 ms). A job run's driver makes a thousand short calls into Spark's JVM, each giving the
# interpreter up and waiting to get it back; beside the server's busy threads each wait could
# last the whole interval.
SWITCH_INTERVAL_SECONDS = 0.0005
# Job runs at once: in the stack's process they share one warm Spark; in containers each starts
# a JVM of its own, so no more than the cores (`make compose-e2e` on 2 cores: 171.0 s with 4 at
# once, 159.3 s with 2; one run each). Others wait in STARTING.
IN_PROCESS_RUNS = 4
CONTAINER_RUNS = max(2, os.cpu_count() or 2)
# glibc's allocator settings the launcher gives this process (``flightpipe.stack.local``).
# The Spark JVM started from here does not inherit them: with them its 1M-row runs were
# slower (10.0 s against 6.5 s), and the JVM manages its own memory.
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

            warm_up(REPO / "glue_job", REPO / "sample_data")
            self.state = "warm"
        except Exception as error:  # the stack still serves; job runs will start Spark themselves
            log.exception("Spark warm-up failed")
            self.state = f"failed: {error}"
        self.seconds = round(time.monotonic() - started, 1)
        log.info("Spark %s after %.1fs", self.state, self.seconds)


class HealthMiddleware:
    """Answers the health path, LocalStack's init path and the dashboard's; everything else
    goes to moto."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        warmer: SparkWarmer | None,
        hooks: InitHooks,
        dashboard: Dashboard,
    ):
        self.app = app
        self.warmer = warmer
        self.hooks = hooks
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
        if path == HEALTH_PATH:
            answer: dict[str, Any] = {
                "status": "ok",
                "pid": os.getpid(),
                "spark": self.warmer.state if self.warmer else "in Glue containers",
                "spark_seconds": self.warmer.seconds if self.warmer else None,
                "init": self.hooks.state,
            }
        elif path == INIT_READY_PATH:
            answer = self.hooks.localstack_answer()
        elif path == PROVISIONED_PATH and self.hooks.provisioned_file.is_file():
            answer = json.loads(self.hooks.provisioned_file.read_text(encoding="utf-8"))
        else:
            return self.app(environ, start_response)
        body = json.dumps(answer).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def configure_environment(port: int, region: str) -> None:
    """Point this process's own AWS clients (job runs, crawls, handlers) at the stack."""
    os.environ["MOTO_PORT"] = str(port)
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)


def route_any_key() -> None:
    """Let moto's routes match line breaks, which an S3 key may hold (any UTF-8 is allowed).

    moto's server routes a key with the pattern ``.+`` through werkzeug, and ``.`` stops at a
    line break, so such a key answers 404 where AWS stores the object. Every route pattern is
    compiled with DOTALL instead (a URL path holds no line break but in a key). Must run before
    the backend apps are created.
    """
    from moto.moto_server.utilities import RegexConverter

    if getattr(RegexConverter, "_flightpipe_dotall", False):
        return
    original = RegexConverter.__init__

    def dotall(self: Any, url_map: Any, *items: Any) -> None:
        original(self, url_map, *items)
        self.regex = f"(?s:{self.regex})"

    setattr(RegexConverter, "__init__", dotall)
    setattr(RegexConverter, "_flightpipe_dotall", True)


def install_behaviour(
    log_dir: Path,
    chalice_apps: list[Path],
    stage: str,
    containers: ContainerJobs | None = None,
) -> None:
    """Enable state machine execution and apply every patch that gives moto real behaviour."""
    from moto.core.config import default_user_config

    from flightpipe.stack import (
        clock,
        events,
        glue,
        lambdas,
        moto_answers,
        moto_speedups,
        sfn_workarounds,
        sns,
    )
    from flightpipe.stack.template import local_functions

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    route_any_key()
    sfn_workarounds.apply()
    moto_speedups.apply()
    clock.install(clock.from_environment())
    moto_answers.apply()
    glue.install(
        log_dir,
        glue.resolve_script(REPO / "glue_job"),
        workers=CONTAINER_RUNS if containers else IN_PROCESS_RUNS,
        containers=containers,
    )
    events.install()
    sns.install()
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    for chalice_app in chalice_apps:
        if not chalice_app.exists():
            log.warning(
                "no Chalice app at %s: its Lambda targets will not be delivered", chalice_app
            )
            continue
        for function, settings in local_functions(chalice_app, stage, region):
            lambdas.set_environment(function.name, settings.environment)
            events.register_lambda(
                function.name,
                function.handler,
                max_retries=settings.max_retries,
                on_failure=settings.on_failure,
            )
            log.info("Lambda function %s -> %s", function.name, chalice_app)
    propagate_to_root()


def configure_logging(log_file: Path | None = None) -> None:
    """The process's one logging configuration: a timestamped handler on the root logger, which
    every logger reaches (the per-run logs of job runs are root handlers too), and the same
    records in ``log_file`` when given (the container writes ``stack.log`` where ``make
    local-up`` has it; its stderr is ``docker compose logs stack``)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().addHandler(handler)
    logging.captureWarnings(True)
    for noisy in ("werkzeug", "botocore", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def propagate_to_root() -> None:
    """Undo what ``Chalice(configure_logs=True)`` did to its app's logger, whatever its name.

    On Lambda each function has a process of its own; here the functions of every app share
    the stack's. Chalice gives the app's logger a stdout handler without timestamps and stops it
    propagating, so its records, and those of its children, would miss the stack's format and
    the per-run logs. Called once the apps are imported, which is when Chalice does it.
    """
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        console = [
            handler
            for handler in logger.handlers
            if type(handler) is logging.StreamHandler and handler.stream is sys.stdout
        ]
        if console:
            for handler in console:
                logger.removeHandler(handler)
            logger.propagate = True


def serve(
    port: int,
    region: str,
    log_dir: Path,
    chalice_apps: list[Path],
    stage: str,
    host: str = "127.0.0.1",
    init_dir: Path | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    configure_environment(port, region)
    containers = job_containers()
    install_behaviour(log_dir, chalice_apps, stage, containers)
    warmer = SparkWarmer() if containers is None else None
    hooks = InitHooks(init_dir, port)
    dashboard = Dashboard(port, log_dir)
    app = HealthMiddleware(
        DomainDispatcherApplication(create_backend_app), warmer, hooks, dashboard
    )
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if warmer is not None:
        warmer.start()
    hooks.start()
    log.info("local AWS stack serving on %s:%d (pid %d)", host, port, os.getpid())
    log.info("dashboard: http://127.0.0.1:%d%s", port, DASHBOARD_PATH)
    try:
        server.serve_forever()
    finally:
        if containers is not None:
            containers.close()
    log.info("local AWS stack stopped")


def job_containers() -> ContainerJobs | None:
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

    jobs = ContainerJobs.from_environment()
    log.info("Glue job runs in containers of %s (%s)", jobs.image, jobs.placement)
    return jobs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--log-dir", type=Path, default=REPO / ".local" / "logs")
    parser.add_argument(
        "--chalice-app",
        type=Path,
        action="append",
        dest="chalice_apps",
        help="a Chalice app whose event handlers serve Lambda targets (repeatable)",
    )
    parser.add_argument("--stage", default="local")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--log-file", type=Path, help="also write the stack's log here")
    parser.add_argument(
        "--init-dir",
        type=Path,
        help="LocalStack's init folder: run ready.d/ hooks once serving (the container does)",
    )
    parser.add_argument(
        "--check-ready",
        action="store_true",
        help="exit 0 if a stack on --port serves and its init hooks succeeded (health check)",
    )
    args = parser.parse_args(argv)
    if args.check_ready:
        return 0 if ready(args.port) else 1
    args.log_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args.log_file)
    for name in MALLOC_VARIABLES:  # read by glibc at this process's start; not for Spark's JVM
        os.environ.pop(name, None)
    apps = args.chalice_apps if args.chalice_apps is not None else [REPO / "chalice_app"]
    serve(args.port, args.region, args.log_dir, apps, args.stage, args.host, args.init_dir)
    return 0


def ready(port: int) -> bool:
    """Whether the stack on ``port`` answers and its init hooks completed without error."""
    import urllib.request

    try:
        url = f"http://127.0.0.1:{port}{INIT_READY_PATH}"
        with urllib.request.urlopen(url, timeout=3) as response:
            answer = json.load(response)
    except (OSError, ValueError):
        return False
    return bool(answer.get("completed")) and all(
        script.get("state") == "SUCCESSFUL" for script in answer.get("scripts", [])
    )


if __name__ == "__main__":
    raise SystemExit(main())
