"""The compose stack for the docker tier: stand-in images, a project of its own on free ports.

Skipped, saying why, when no Docker engine answers (``make test`` on a machine without one).
The stand-ins are built first (``flightpipe compose standins``; quick when up to date), so the
tier never pulls: PostgreSQL, LocalStack and the Glue image are the stand-ins CI can build. A
user's compose project (``flightpipe``, ports 4566/5439, ``.local/``) is never touched.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from flightpipe.devenv import compose
from flightpipe.devenv.postgres import free_port
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings, Pipeline
from flightpipe.stack.deploy import outputs, stack_name
from flightpipe.stack.local import LocalStack
from tests.support.stack import Stack


@pytest.fixture(scope="session")
def docker_engine() -> object:
    try:
        return compose.docker_client()
    except compose.ComposeError as error:
        pytest.skip(f"docker tier skipped: {error}")


@pytest.fixture(scope="session")
def compose_project(docker_engine: object) -> Iterator[tuple[str, LocalSettings]]:
    """A compose project name and its settings; the project is taken down at the end."""
    project = f"flightpipe-test-{uuid.uuid4().hex[:8]}"
    settings = LocalSettings(
        stack_port=free_port(),
        postgres_port=free_port(),
        state_dir=REPO / ".local" / "tmp" / project,
    )
    saved = os.environ.get("COMPOSE_PROJECT_NAME")
    os.environ["COMPOSE_PROJECT_NAME"] = project
    try:
        compose.standins(settings)
        yield project, settings
    finally:
        try:
            compose.down(settings)
        finally:
            if saved is None:
                os.environ.pop("COMPOSE_PROJECT_NAME", None)
            else:
                os.environ["COMPOSE_PROJECT_NAME"] = saved
            shutil.rmtree(settings.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def compose_stack(compose_project: tuple[str, LocalSettings]) -> Stack:
    """The compose stack, up and deployed, as the integration tests' ``Stack``."""
    _, settings = compose_project
    values = compose.up(settings)
    local = LocalStack(settings)
    cloudformation = local.session().client("cloudformation", endpoint_url=settings.endpoint_url)
    pipeline = Pipeline.from_outputs(outputs(cloudformation, stack_name("local")))
    return Stack(settings, local, pipeline, values["DATABASE_URL"])
