"""``flightpipe local up|down|status``: the local stack and PostgreSQL as background processes.

``up`` starts PostgreSQL (unless DATABASE_URL names one) and the stack process, waits until
the stack answers, provisions the pipeline and writes ``.local/stack.env`` (KEY=VALUE lines a
shell can source); running it again while up changes nothing. ``down`` stops both by the pids
recorded when they started. Logs go to ``.local/logs/``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from flightpipe import processes
from flightpipe.config import LocalSettings, Names
from flightpipe.postgres import LocalPostgres
from flightpipe.stack.server import HEALTH_PATH, LOCAL_CREDENTIALS

# glibc's allocator for the stack's Python process (a user's own settings win; the server
# keeps them from Spark's JVM). The server serves objects of tens of megabytes from dozens of
# threads: with glibc's defaults each thread may get an arena of its own, and a freed large
# buffer raises the threshold above which memory is returned to the system, so the resident
# size only grows (526 MiB after a burst and three 1M-row days; 322 MiB with these).
MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "1048576"}


class StackError(RuntimeError):
    """The local stack could not be started, provisioned or stopped."""


@dataclass(frozen=True)
class LocalStack:
    settings: LocalSettings

    @property
    def pid_file(self) -> Path:
        return self.settings.state_dir / "stack.pid"

    @property
    def env_file(self) -> Path:
        return self.settings.state_dir / "stack.env"

    @property
    def postgres(self) -> LocalPostgres:
        return LocalPostgres(
            self.settings.state_dir / "postgres",
            port=self.settings.postgres_port,
            log_path=self.settings.log_dir / "postgres.log",
        )

    def pid(self) -> int | None:
        return processes.read_pid(self.pid_file)

    def health(self, timeout: float = 2.0) -> dict[str, Any] | None:
        url = self.settings.endpoint_url + HEALTH_PATH
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return dict(json.load(response))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def start_server(self, timeout: float = 30.0) -> int:
        """Start the stack process unless it runs; wait until it answers."""
        running = self.pid()
        if running is not None and self.health():
            return running
        self.settings.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.settings.log_dir / "stack.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flightpipe.stack.server",
                "--port",
                str(self.settings.stack_port),
                "--region",
                self.settings.region,
                "--log-dir",
                str(self.settings.log_dir),
                *(arg for app in self.settings.chalice_apps for arg in ("--chalice-app", str(app))),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self._server_env(),
        )
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(
                    f"the stack exited with code {process.returncode}; "
                    f"see {self.settings.log_dir / 'stack.log'}"
                )
            if self.health(timeout=0.5):
                return process.pid
            time.sleep(0.1)
        raise StackError(f"the stack did not answer within {timeout:.0f}s")

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
        return {
            **MALLOC_SETTINGS,
            **env,
            **LOCAL_CREDENTIALS,
            "AWS_DEFAULT_REGION": self.settings.region,
        }

    def stop_server(self, timeout: float = 30.0) -> bool:
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        if not processes.stop(pid, signal.SIGTERM, timeout, kill_after=True):
            raise StackError(f"the stack (pid {pid}) did not stop")
        return True

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=self.settings.region,
        )


def up(settings: LocalSettings) -> dict[str, str]:
    """Bring PostgreSQL and the stack up, provision from infra/pipeline.yaml (stage local),
    write stack.env; returns its values."""
    from flightpipe.stack.provision import provision

    started = time.monotonic()
    stack = LocalStack(settings)
    database_url = os.environ.get("DATABASE_URL") or stack.postgres.start()
    stack.start_server()
    provisioned = provision(
        database_url, session=stack.session(), endpoint_url=settings.endpoint_url
    )
    values = stack_env_values(settings, database_url, asdict(provisioned))
    write_stack_env(settings, values)
    values["SECONDS_TO_HEALTHY"] = f"{time.monotonic() - started:.1f}"
    return values


def stack_env_values(
    settings: LocalSettings, database_url: str, provisioned: Mapping[str, str]
) -> dict[str, str]:
    """What ``.local/stack.env`` holds, from what provisioning returned (``Provisioned``, as a
    dict): the same keys for the Docker-free stack and the compose stack."""
    return {
        "AWS_ENDPOINT_URL": settings.endpoint_url,
        "AWS_DEFAULT_REGION": settings.region,
        **LOCAL_CREDENTIALS,
        "DATA_BUCKET": provisioned["data_bucket"],
        "DATABASE_URL": database_url,
        "STATE_MACHINE_ARN": provisioned["state_machine_arn"],
        "ALERTS_TOPIC_ARN": provisioned["alerts_topic_arn"],
        "ALERTS_QUEUE_URL": provisioned["alerts_queue_url"],
        "GLUE_JOB_NAME": provisioned["glue_job"],
        "GLUE_CRAWLER_NAME": provisioned["crawler"],
        "HANDLER_FAILURES_URL": provisioned["handler_failures_url"],
    }


def write_stack_env(settings: LocalSettings, values: Mapping[str, str]) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    (settings.state_dir / "stack.env").write_text(text, encoding="utf-8")


def down(settings: LocalSettings) -> list[str]:
    """Stop what ``up`` started, by pid; returns what was stopped."""
    stack = LocalStack(settings)
    stopped = []
    if stack.stop_server():
        stopped.append("stack")
    if stack.postgres.stop():
        stopped.append("postgres")
    stack.env_file.unlink(missing_ok=True)
    return stopped


def status(settings: LocalSettings, names: Names, limit: int = 10) -> dict[str, Any]:
    """Health, recent executions with their status, recent notifications."""
    stack = LocalStack(settings)
    health = stack.health()
    report: dict[str, Any] = {
        "stack": health or "down",
        "stack_pid": stack.pid(),
        "postgres_pid": stack.postgres.pid(),
    }
    if not health:
        return report
    session = stack.session()
    sfn = session.client("stepfunctions", endpoint_url=settings.endpoint_url)
    sqs = session.client("sqs", endpoint_url=settings.endpoint_url)
    executions = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for item in sfn.list_executions(
            stateMachineArn=machine["stateMachineArn"], maxResults=limit
        )["executions"]:
            executions.append(
                {
                    "name": item["name"],
                    "status": item["status"],
                    "started": item["startDate"].isoformat(),
                }
            )
    report["executions"] = sorted(executions, key=lambda e: e["started"], reverse=True)[:limit]
    try:
        queue_url = sqs.get_queue_url(QueueName=names.alerts_queue)["QueueUrl"]
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        report["notifications"] = [_notification(m["Body"]) for m in messages]
    except sqs.exceptions.QueueDoesNotExist:
        report["notifications"] = []
    return report


def _notification(body: str) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except ValueError:
        return {"message": body}
    return {"subject": envelope.get("Subject"), "message": envelope.get("Message", body)}
