"""``flightpipe local up|down|status``: the local stack as background processes.

``up`` starts PostgreSQL (unless ``DATABASE_URL`` names another server), the project's Glue
service and LocalStack, waits until they answer, deploys the pipeline to LocalStack's
CloudFormation (``flightpipe.stack.deploy``) and writes ``.local/stack.env`` (KEY=VALUE lines a
shell can source); running it again while up changes nothing. ``down`` stops all three by the
pids recorded when they started. Logs go to ``.local/logs/``.

LocalStack runs without Docker from its own virtualenv (``.venv/localstack``, ``make install``),
with the project's plugins (``localstack/flightpipe_localstack``) choosing Glue, the Lambda
executor and the fixes; the settings it is given are in ``localstack_environment``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from flightpipe_localstack import clock

from flightpipe.devenv import processes
from flightpipe.devenv.postgres import LocalPostgres, free_port
from flightpipe.paths import REPO
from flightpipe.settings import LOCAL_CREDENTIALS, LocalSettings
from flightpipe.stack.glue_service import HEALTH_PATH

# glibc's allocator for the stack's Python processes, LocalStack and the Glue service (a user's
# own settings win; the Glue service keeps them from Spark's JVM). Both serve objects of tens of
# megabytes from dozens of threads: with glibc's defaults each thread may get an arena of its
# own, and a freed large buffer raises the threshold above which memory is returned to the
# system, so the resident size only grows.
MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576"}
LOCALSTACK_VENV = REPO / ".venv" / "localstack"
LOCALSTACK_ENV_FILE = REPO / "localstack" / "localstack.env"
# LocalStack's index of the AWS service specifications, as `make install` builds it (see the
# Makefile): LocalStack reads it from its static libraries, under its FILESYSTEM_ROOT.
LOCALSTACK_STATIC_LIBS = Path("usr") / "lib" / "localstack"
LOCALSTACK_CATALOG = LOCALSTACK_VENV / "static" / LOCALSTACK_STATIC_LIBS
LOCALSTACK_HEALTH_PATH = "/_localstack/health"
# Lambda waits about 1 then 2 minutes between the attempts of an asynchronous invocation;
# LocalStack waits n x LAMBDA_RETRY_BASE_DELAY seconds (60 by default, whole seconds only).
LAMBDA_RETRY_BASE_SECONDS = 60


class StackError(RuntimeError):
    """The local stack could not be started, deployed or stopped."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (``#`` comments and blank lines skipped), as compose reads an env_file."""
    pairs = (
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


def localstack_environment(settings: LocalSettings, glue_url: str) -> dict[str, str]:
    """What LocalStack is started with on this machine, besides the caller's environment: the
    settings both paths share (``localstack/localstack.env``), and host mode's own."""
    model = clock.from_environment()
    state = settings.state_dir / "localstack"
    return {
        **read_env_file(LOCALSTACK_ENV_FILE),
        # Host mode, though this machine may have a /.dockerenv: the gateway on the stack's
        # port, every file under the state folder (LocalStack empties its temporary folder at
        # start and stop: never the system's /tmp/localstack), no DNS server.
        "OVERRIDE_IN_DOCKER": "0",
        "GATEWAY_LISTEN": f"127.0.0.1:{settings.stack_port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{settings.stack_port}",
        # The dashboard's page at this address reads its API there: LocalStack's CORS check
        # admits only localhost origins by default and answers 403 to the page's requests.
        "EXTRA_CORS_ALLOWED_ORIGINS": settings.endpoint_url,
        "FILESYSTEM_ROOT": str(state),
        "TMPDIR": str(state / "tmp"),
        "DNS_ADDRESS": "0",
        "FLIGHTPIPE_GLUE_URL": glue_url,
        # Lambda without Docker: each invocation a python3.11 subprocess (the project's plugin).
        "LAMBDA_RUNTIME_EXECUTOR": "subprocess",
        "LAMBDA_SUBPROCESS_RUNTIME_DIR": str(LOCALSTACK_VENV / "lambda-runtime"),
        "LAMBDA_SUBPROCESS_PYTHON": str(LOCALSTACK_VENV / "bin" / "python"),
        "LAMBDA_RETRY_BASE_DELAY": lambda_retry_base_delay(model),
        # Each role's calls checked against its policies (flightpipe_localstack/iam_check.py).
        **iam_check_environment(settings),
    }


IAM_EVALUATOR = REPO / "tools" / "iam" / "evaluate.mjs"


def iam_check_environment(settings: LocalSettings) -> dict[str, str]:
    """The IAM check's settings: the evaluator, and where refused calls are written."""
    return {
        "FLIGHTPIPE_IAM_EVALUATOR": str(IAM_EVALUATOR),
        "FLIGHTPIPE_IAM_DENIALS": str(iam_denials_file(settings)),
    }


def iam_denials_file(settings: LocalSettings) -> Path:
    return settings.log_dir / "iam-denied.jsonl"


def provide_service_catalog(filesystem_root: Path) -> None:
    """Put the service catalog `make install` built where LocalStack, with ``filesystem_root``
    as its FILESYSTEM_ROOT, reads it. Without one, LocalStack builds its own at start."""
    static_libs = filesystem_root / LOCALSTACK_STATIC_LIBS
    for built in LOCALSTACK_CATALOG.glob("service-catalog-*.dill"):
        if not (static_libs / built.name).is_file():
            static_libs.mkdir(parents=True, exist_ok=True)
            partial = static_libs / f".{built.name}.partial"
            shutil.copyfile(built, partial)
            partial.replace(static_libs / built.name)


def lambda_retry_base_delay(model: clock.TimeModel) -> str:
    """LocalStack's LAMBDA_RETRY_BASE_DELAY on the stack's clock (whole seconds, at least 1)."""
    return str(max(1, round(model.real(LAMBDA_RETRY_BASE_SECONDS))))


@dataclass(frozen=True)
class Background:
    """A process of the stack: started once, found again by its pid file, stopped by pid."""

    name: str
    pid_file: Path
    log_file: Path
    health_url: str

    def pid(self) -> int | None:
        return processes.read_pid(self.pid_file)

    def health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.health_url, timeout=timeout) as response:
                return dict(json.load(response))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def start(self, command: list[str], env: Mapping[str, str], timeout: float) -> int:
        """Start ``command`` unless this process runs and answers; wait until it answers."""
        return self.wait(self.spawn(command, env), timeout)

    def spawn(self, command: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes] | int:
        """Start ``command`` unless this process runs and answers: the new process, or the
        running one's pid."""
        running = self.pid()
        if running is not None and self.health():
            return running
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(env),
                cwd=REPO,
            )
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def wait(self, process: subprocess.Popen[bytes] | int, timeout: float) -> int:
        """Wait until the process ``spawn`` gave answers; its pid."""
        if isinstance(process, int):
            return process
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with code {process.returncode}; see {self.log_file}"
                )
            if self.health(timeout=0.5):
                return process.pid
            time.sleep(0.1)
        raise StackError(f"{self.name} did not answer within {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> bool:
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        if not processes.stop(pid, signal.SIGTERM, timeout, kill_after=True):
            raise StackError(f"{self.name} (pid {pid}) did not stop")
        return True


@dataclass(frozen=True)
class LocalStack:
    """The stack's processes under ``settings.state_dir``: PostgreSQL, the Glue service and
    LocalStack."""

    settings: LocalSettings

    @property
    def env_file(self) -> Path:
        return self.settings.state_dir / "stack.env"

    @property
    def glue_port_file(self) -> Path:
        return self.settings.state_dir / "glue.port"

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(
            self.settings.state_dir / "postgres",
            port=self.settings.postgres_port,
            log_path=self.settings.log_dir / "postgres.log",
        )

    @property
    def localstack(self) -> Background:
        return Background(
            "LocalStack",
            self.settings.state_dir / "localstack.pid",
            self.settings.log_dir / "stack.log",
            self.settings.endpoint_url + LOCALSTACK_HEALTH_PATH,
        )

    def glue(self, port: int) -> Background:
        return Background(
            "the Glue service",
            self.settings.state_dir / "glue.pid",
            self.settings.log_dir / "glue.log",
            f"http://127.0.0.1:{port}{HEALTH_PATH}",
        )

    def pid(self) -> int | None:
        """LocalStack's pid, if it runs."""
        return self.localstack.pid()

    def health(self) -> dict[str, Any] | None:
        """LocalStack's health, with the Glue service's (Spark's state) as ``flightpipe``."""
        answer = self.localstack.health()
        if answer is None:
            return None
        port = self._glue_port()
        answer["flightpipe"] = self.glue(port).health() if port else None
        return answer

    def _glue_port(self) -> int | None:
        try:
            return int(self.glue_port_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def start(self) -> None:
        """Start the Glue service and LocalStack unless they run; wait until both answer."""
        self.wait(*self.spawn())

    def spawn(self) -> tuple[Any, Any]:
        """Start the Glue service and LocalStack (at once: neither needs the other to start)
        unless they run; what ``wait`` waits for."""
        port = self._glue_port()
        if port is None or self.glue(port).pid() is None:
            port = free_port()
        glue = self.glue(port)
        glue_process = glue.spawn(
            [
                sys.executable,
                "-m",
                "flightpipe.stack.glue_service",
                "--port",
                str(port),
                "--aws-endpoint",
                self.settings.endpoint_url,
                "--region",
                self.settings.region,
                "--log-dir",
                str(self.settings.log_dir),
            ],
            {**MALLOC_SETTINGS, **self._client_env()},
        )
        self.glue_port_file.write_text(f"{port}\n")
        python = LOCALSTACK_VENV / "bin" / "python"
        if not python.is_file():
            raise StackError(
                f"LocalStack is not installed ({python} is missing): run `make install`"
            )
        env = {
            **self._client_env(),
            **localstack_environment(self.settings, f"http://127.0.0.1:{port}"),
        }
        (self.settings.state_dir / "localstack" / "tmp").mkdir(parents=True, exist_ok=True)
        provide_service_catalog(self.settings.state_dir / "localstack")
        localstack_process = self.localstack.spawn(
            [str(python), "-m", "localstack.runtime.main"], {**MALLOC_SETTINGS, **env}
        )
        return (glue, glue_process), localstack_process

    def wait(self, glue: tuple[Background, Any], localstack: Any) -> None:
        """Wait until both answer; if either does not, stop both, so that a failed start
        leaves nothing running."""
        try:
            glue[0].wait(glue[1], timeout=30)
            self.localstack.wait(localstack, timeout=60)
        except BaseException:
            self.stop()
            raise

    def _client_env(self) -> dict[str, str]:
        """The caller's environment for a process of the stack, minus what would point it
        elsewhere: another endpoint or another account's credentials."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "PYTHON", "LOCALSTACK_")) and k != "VIRTUAL_ENV"
        }
        return {**env, **LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": self.settings.region}

    def stop(self) -> list[str]:
        stopped = []
        if self.localstack.stop():
            stopped.append("localstack")
        port = self._glue_port()
        if port is not None and self.glue(port).stop():
            stopped.append("glue")
        self.glue_port_file.unlink(missing_ok=True)
        return stopped

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.settings.region,
        )

    def database_url(self) -> str:
        """The warehouse: ``DATABASE_URL`` when it names another server, else the stack's own
        PostgreSQL, started. A ``DATABASE_URL`` equal to the stack's own (a shell that sourced
        ``stack.env``) starts the stack's own again, never counts as someone else's server."""
        given = os.environ.get("DATABASE_URL")
        if given and given != self.postgres.url:
            return given
        return self.postgres.start()

    def root_certificate(self, database_url: str) -> Path | None:
        """The CA of the warehouse's TLS certificate: the stack's own PostgreSQL's; for another
        server, None (``PGSSLROOTCERT`` names it, as for libpq)."""
        return self.postgres.ca_cert if database_url == self.postgres.url else None


def up(settings: LocalSettings) -> dict[str, str]:
    """Bring PostgreSQL, the Glue service and LocalStack up, deploy the pipeline for the stage
    ``local``, write stack.env; returns its values."""
    from flightpipe.stack.deploy import LocalPackage, deploy_local, local_environment

    started = time.monotonic()
    stack = LocalStack(settings)
    running = stack.pid() is not None
    starting = stack.spawn()
    made = LocalPackage(local_environment(settings))
    if not running:
        made.start()  # while the services start
    try:
        database_url = stack.database_url()
        stack.wait(*starting)
    except BaseException:
        made.close()
        raise
    outputs = deploy_local(
        stack.session(),
        settings,
        database_url,
        made=made,
        root_certificate=stack.root_certificate(database_url),
    )
    values = stack_env_values(settings, database_url, outputs)
    write_stack_env(settings, values)
    values["SECONDS_TO_HEALTHY"] = f"{time.monotonic() - started:.1f}"
    return values


def stack_env_values(
    settings: LocalSettings, database_url: str, outputs: Mapping[str, str]
) -> dict[str, str]:
    """What ``.local/stack.env`` holds, from the deployed stack's outputs: the same keys for
    the Docker-free stack and the compose stack."""
    return {
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_DEFAULT_REGION": settings.region,
        **LOCAL_CREDENTIALS,
        "DATA_BUCKET": outputs["DataBucket"],
        "DATABASE_URL": database_url,
        "STATE_MACHINE_ARN": outputs["StateMachineArn"],
        "ALERTS_TOPIC_ARN": outputs["AlertsTopicArn"],
        "ALERTS_QUEUE_URL": outputs["AlertsInboxQueueUrl"],
        "GLUE_JOB_NAME": outputs["DelayedFlightsJobName"],
        "GLUE_CRAWLER_NAME": outputs["CrawlerName"],
        "HANDLER_FAILURES_URL": outputs["HandlerFailuresQueueUrl"],
        "DASHBOARD_URL": settings.endpoint_url + "/_flightpipe/dashboard",
    }


def write_stack_env(settings: LocalSettings, values: Mapping[str, str]) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    (settings.state_dir / "stack.env").write_text(text, encoding="utf-8")


def down(settings: LocalSettings) -> list[str]:
    """Stop what ``up`` started, by pid; returns what was stopped."""
    stack = LocalStack(settings)
    stopped = stack.stop()
    if stack.postgres.stop():
        stopped.append("postgres")
    stack.env_file.unlink(missing_ok=True)
    return stopped
