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
from dataclasses import dataclass
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

    def alerts(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        sqs, received = self.client("sqs"), []

        def enough() -> bool:
            messages = sqs.receive_message(
                QueueUrl=self.provisioned.alerts_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
            ).get("Messages", [])
            for message in messages:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.provisioned.alerts_queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                )
            return len(received) >= count

        self.wait_for(enough, timeout, f"{count} alert(s)")
        return received


@pytest.fixture(scope="session")
def stack(server_url: str) -> Iterator[Stack]:
    state = REPO / ".local" / "tmp" / f"stack-{uuid.uuid4().hex[:8]}"
    settings = LocalSettings(
        stack_port=free_port(),
        postgres_port=free_port(),
        state_dir=state,
        chalice_app=REPO / "tests" / "fixtures" / "echo_app",
    )
    local = LocalStack(settings)
    with created_database(server_url) as database_url:
        local.start_server()
        try:
            names = Names()
            provisioned = provision(
                names, database_url, session=local.session(), endpoint_url=settings.endpoint_url
            )
            yield Stack(settings, local, names, provisioned, database_url)
        finally:
            local.stop_server()
            shutil.rmtree(state, ignore_errors=True)
