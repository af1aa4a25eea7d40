"""``flightpipe local up`` / ``down`` as a user runs them, on free ports and a private state dir."""

from __future__ import annotations

import shutil
import socket
import uuid

import pytest

from flightpipe.config import LocalSettings
from flightpipe.postgres import free_port
from flightpipe.stack.local import LocalStack, down, up
from tests.conftest import REPO

pytestmark = pytest.mark.integration

REQUIRED = {
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "DATA_BUCKET",
    "DATABASE_URL",
    "STATE_MACHINE_ARN",
    "ALERTS_TOPIC_ARN",
    "ALERTS_QUEUE_URL",
    "HANDLER_FAILURES_URL",
}


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_is_repeatable_writes_stack_env_and_down_leaves_nothing_running(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    state = REPO / ".local" / "tmp" / f"updown-{uuid.uuid4().hex[:8]}"
    settings = LocalSettings(
        stack_port=free_port(),
        postgres_port=free_port(),
        state_dir=state,
        chalice_apps=(state / "no-app",),
    )
    stack = LocalStack(settings)
    try:
        values = up(settings)
        pids = (stack.pid(), stack.postgres.pid())
        env = dict(line.split("=", 1) for line in (state / "stack.env").read_text().splitlines())
        assert set(env) >= REQUIRED
        assert env["AWS_ENDPOINT_URL"] == settings.endpoint_url
        assert env["DATABASE_URL"].endswith(f":{settings.postgres_port}/flights")

        again = up(settings)
        assert (stack.pid(), stack.postgres.pid()) == pids
        assert again["STATE_MACHINE_ARN"] == values["STATE_MACHINE_ARN"]
    finally:
        stopped = down(settings)
        stack.postgres.delete()  # and the directory it moved to in a private checkout
        shutil.rmtree(state, ignore_errors=True)
    assert stopped == ["stack", "postgres"]
    assert not listening(settings.stack_port) and not listening(settings.postgres_port)
    assert all(pid is not None for pid in pids)
