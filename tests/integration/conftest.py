"""A local stack for the integration tests: its own process on a free port, its own state.

A user's running stack (port 4566, .local/) is never touched. The stack is provisioned against
the session's scratch PostgreSQL database and stopped by pid at the end.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from flightpipe.config import LocalSettings, Names
from flightpipe.postgres import free_port
from flightpipe.stack.local import LocalStack
from flightpipe.stack.provision import Provisioned, provision
from tests.conftest import REPO, created_database


@dataclass
class Stack:
    settings: LocalSettings
    local: LocalStack
    names: Names
    provisioned: Provisioned
    database_url: str
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
                QueueUrl=self.provisioned.alerts_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
            ).get("Messages", []):
                sqs.delete_message(
                    QueueUrl=self.provisioned.alerts_queue_url,
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
                stateMachineArn=self.provisioned.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
            runs = [
                r
                for name in (self.names.job, self.names.airports_job)
                for r in glue.get_job_runs(JobName=name)["JobRuns"]
                if r["JobRunState"] in ("STARTING", "RUNNING")
            ]
            return not running and not runs

        self.wait_for(idle, timeout, "the pipeline to be idle")


@pytest.fixture(scope="session")
def stack(server_url: str) -> Iterator[Stack]:
    state = REPO / ".local" / "tmp" / f"stack-{uuid.uuid4().hex[:8]}"
    settings = LocalSettings(
        stack_port=free_port(),
        postgres_port=free_port(),
        state_dir=state,
        chalice_apps=(REPO / "chalice_app", REPO / "tests" / "fixtures" / "echo_app"),
    )
    local = LocalStack(settings)
    with created_database(server_url) as database_url:
        local.start_server()
        try:
            provisioned = provision(
                database_url, session=local.session(), endpoint_url=settings.endpoint_url
            )
            yield Stack(settings, local, Names.local(), provisioned, database_url)
        finally:
            local.stop_server()
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def with_airports(stack: Stack) -> Stack:
    """The stack after the shipped airports dimension went through the pipeline."""
    from tests.integration.helpers import load_airports

    return load_airports(stack)
