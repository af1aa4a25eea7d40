"""A local stack for the tests: LocalStack and the Glue service on free ports, with their own
state, the pipeline deployed to them as ``make local-up`` deploys it (see
tests/integration/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flightpipe.devenv.postgres import free_port
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings, Pipeline
from flightpipe.stack.deploy import TEMPLATE, LocalPackage, deploy_local, local_environment
from flightpipe.stack.local import LocalStack, stack_env_values, write_stack_env
from tests.support.postgres import Server, created_database


@dataclass
class Stack:
    settings: LocalSettings
    local: LocalStack
    pipeline: Pipeline
    database_url: str
    root_certificate: Path | None = None
    unclaimed: list[dict[str, Any]] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.local.session().client(service, endpoint_url=self.settings.endpoint_url)

    def wait_for(self, condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = condition()
            if result:
                return result
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or condition}")

    def execution(self, arn: str, timeout: float = 60.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions")

        def done() -> dict[str, Any] | None:
            described = sfn.describe_execution(executionArn=arn)
            return None if described["status"] == "RUNNING" else described

        return dict(self.wait_for(done, timeout, f"execution {arn}"))

    def alert(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        """The first notification on the alerts queue that ``match`` accepts (SNS envelope with
        ``Message`` parsed when it is JSON); others are kept for the tests that wait for them."""
        sqs = self.client("sqs")

        def found() -> dict[str, Any] | None:
            for alert in self.unclaimed:
                if match(alert):
                    self.unclaimed.remove(alert)
                    return alert
            for message in sqs.receive_message(
                QueueUrl=self.pipeline.alerts_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
            ).get("Messages", []):
                sqs.delete_message(
                    QueueUrl=self.pipeline.alerts_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )
                envelope = json.loads(message["Body"])
                try:
                    envelope["body"] = json.loads(envelope["Message"])
                except ValueError:
                    envelope["body"] = None
                self.unclaimed.append(envelope)
            return None

        return dict(self.wait_for(found, timeout, "a matching notification"))

    def quiesce(self, timeout: float = 180.0) -> None:
        """Wait until no execution and no job run is in progress."""
        sfn, glue = self.client("stepfunctions"), self.client("glue")

        def idle() -> bool:
            running = sfn.list_executions(
                stateMachineArn=self.pipeline.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
            runs = [
                r
                for name in (self.pipeline.job, self.pipeline.airports_job)
                for r in glue.get_job_runs(JobName=name)["JobRuns"]
                if r["JobRunState"] in ("STARTING", "RUNNING")
            ]
            return not running and not runs

        self.wait_for(idle, timeout, "the pipeline to be idle")


@contextlib.contextmanager
def started_stack(
    server: Server, template: Path | None = None, **parameters: str
) -> Iterator[Stack]:
    """A stack of its own: LocalStack and the Glue service, the pipeline deployed to them
    against a new database (from ``template``, a changed copy of infra/pipeline.yaml, when
    given, and with ``parameters`` besides the stage's own); stopped and removed after."""
    state = REPO / ".local" / "tmp" / f"stack-{uuid.uuid4().hex[:8]}"
    settings = LocalSettings(stack_port=free_port(), postgres_port=free_port(), state_dir=state)
    local = LocalStack(settings)
    with created_database(server.url) as database_url:
        try:
            local.start()
            outputs = deploy_local(
                local.session(),
                settings,
                database_url,
                root_certificate=server.ca_cert,
                overrides=parameters,
                made=LocalPackage(local_environment(settings), template or TEMPLATE),
            )
            write_stack_env(settings, stack_env_values(settings, database_url, outputs))
            pipeline = Pipeline.from_outputs(outputs)
            yield Stack(settings, local, pipeline, database_url, server.ca_cert)
        finally:
            local.stop()
            shutil.rmtree(state, ignore_errors=True)


def as_local_stage(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """``stack`` as the stage ``local`` of the operator's commands: what they read from the
    environment points at its state folder, and whatever they put in the environment
    (``flightpipe.infra.stages.session_for``) is undone after the test."""
    monkeypatch.setenv("FLIGHTPIPE_STATE_DIR", str(stack.settings.state_dir))
    monkeypatch.setenv("FLIGHTPIPE_STACK_PORT", str(stack.settings.stack_port))
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DATA_BUCKET",
        "STATE_MACHINE_ARN",
    ):
        monkeypatch.setenv(name, "")  # recorded, so that a value set by the test is undone
        monkeypatch.delenv(name)
    return stack
