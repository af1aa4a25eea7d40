"""A local stack for the integration tests: LocalStack and the Glue service on free ports, with
their own state.

A user's running stack (port 4566, .local/) is never touched. The pipeline is deployed to it as
``make local-up`` deploys it (the packaged template, stage local), against the session's scratch
PostgreSQL database, its ``stack.env`` is written in its own state folder, and both processes
are stopped by pid at the end. The operator's commands (``STAGE=local``) find it through the
``local_stage`` fixture, as they find the stack of ``make local-up``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import Server
from tests.support.stack import Stack, as_local_stage, started_stack


@pytest.fixture(scope="session")
def stack(server: Server) -> Iterator[Stack]:
    with started_stack(server) as started:
        yield started


@pytest.fixture(scope="session")
def with_airports(stack: Stack) -> Stack:
    """The stack after the shipped airports dimension went through the pipeline."""
    from tests.support.pipeline import load_airports

    return load_airports(stack)


@pytest.fixture
def local_stage(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """The session's stack as the stage ``local`` of the operator's commands."""
    return as_local_stage(stack, monkeypatch)
