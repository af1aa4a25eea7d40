"""``flightpipe local up`` / ``down`` (``make local-up`` / ``local-down``) as a user runs them, at a
shell, on free ports and a private state dir: the stack they start is LocalStack (with the
project's Glue service and PostgreSQL), deployed. Each command is its own process, as at a shell:
the stack's processes are never children of the test's."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightpipe.devenv.postgres import free_port
from flightpipe.paths import REPO
from flightpipe.settings import LocalSettings
from flightpipe.stack.local import (
    LOCALSTACK_CATALOG,
    LOCALSTACK_STATIC_LIBS,
    LocalStack,
    down,
)

LOCALSTACK_VERSION = "4.13.1"
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


def sourced(env_file: Path) -> dict[str, str]:
    """What ``set -a; . .local/stack.env; set +a`` puts in a shell's environment."""
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)


@pytest.fixture(scope="module")
def settings() -> Iterator[LocalSettings]:
    """A stack's settings as ``make local-up`` reads them from the environment; whatever the
    tests leave running is stopped at the end."""
    state = REPO / ".local" / "tmp" / f"updown-{uuid.uuid4().hex[:8]}"
    found = LocalSettings(stack_port=free_port(), postgres_port=free_port(), state_dir=state)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DATABASE_URL", raising=False)  # the stack's own PostgreSQL
        try:
            yield found
        finally:
            down(found)
            LocalStack(found).postgres.delete()  # and the directory it moved to, if it did
            shutil.rmtree(state, ignore_errors=True)


def flightpipe(settings: LocalSettings, env: dict[str, str], *args: str) -> str:
    """``flightpipe local ...`` at a shell with ``env`` and the stack's settings; its output."""
    return run_flightpipe(settings, env, *args).stdout


def run_flightpipe(
    settings: LocalSettings, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flightpipe"), "local", *args],
        env={
            **env,
            "FLIGHTPIPE_STACK_PORT": str(settings.stack_port),
            "FLIGHTPIPE_POSTGRES_PORT": str(settings.postgres_port),
            "FLIGHTPIPE_STATE_DIR": str(settings.state_dir),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done


def printed(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def test_up_is_repeatable_and_writes_stack_env(settings):
    stack = LocalStack(settings)
    values = printed(flightpipe(settings, dict(os.environ), "up"))
    pids = (stack.pid(), stack.postgres.pid())
    env = sourced(settings.state_dir / "stack.env")
    assert set(env) >= REQUIRED
    assert values == env
    assert env["AWS_ENDPOINT_URL"] == settings.endpoint_url
    assert env["DATABASE_URL"] == stack.postgres.url
    assert env["DATABASE_URL"].endswith(f":{settings.postgres_port}/flights")

    again = printed(flightpipe(settings, dict(os.environ), "up"))
    assert (stack.pid(), stack.postgres.pid()) == pids
    assert all(pid is not None for pid in pids)
    assert again == sourced(settings.state_dir / "stack.env") == env


def test_up_says_which_stack_env_to_source(settings):
    """The line to paste names the stack's own file, wherever its state folder is."""
    said = run_flightpipe(settings, dict(os.environ), "up").stderr
    [path] = re.findall(r"set -a; \. (\S+); set \+a", said)
    assert (Path.cwd() / path).resolve() == (settings.state_dir / "stack.env").resolve(), said


def test_the_stack_is_localstack_with_glue(settings):
    with urllib.request.urlopen(settings.endpoint_url + "/_localstack/health", timeout=10) as got:
        health = json.load(got)
    assert health["version"] == LOCALSTACK_VERSION
    assert health["services"].get("glue") == "running", health["services"]  # deployed, served
    for service in ("s3", "events", "lambda", "stepfunctions", "sns", "sqs", "cloudformation"):
        assert service in health["services"], service


def test_localstack_started_on_the_service_catalog_make_install_built(settings):
    """The first start in a new state folder read the catalog of AWS's service specifications
    from its static libraries, where `make install` built it; LocalStack builds one of its own,
    in its cache, only when none is there."""
    root = settings.state_dir / "localstack"
    installed = sorted(p.name for p in LOCALSTACK_CATALOG.glob("service-catalog-*.dill"))
    assert installed, f"no catalog in {LOCALSTACK_CATALOG}: `make install` builds it"
    static = sorted(p.name for p in (root / LOCALSTACK_STATIC_LIBS).glob("service-catalog-*"))
    assert static == installed
    assert not list(root.glob("var/lib/localstack/cache/service-catalog-*"))


def test_down_then_up_in_a_shell_that_sourced_stack_env_comes_back_on_its_own_postgres(settings):
    """``DATABASE_URL`` from stack.env names the stack's own PostgreSQL: ``up`` starts it again,
    never takes it for an outside server that someone else runs."""
    stack = LocalStack(settings)
    env = {**os.environ, **sourced(settings.state_dir / "stack.env")}
    assert env["DATABASE_URL"] == stack.postgres.url

    flightpipe(settings, env, "down")
    assert not listening(settings.postgres_port) and not listening(settings.stack_port)
    flightpipe(settings, env, "up")

    assert stack.postgres.pid() is not None and listening(settings.postgres_port)
    assert sourced(settings.state_dir / "stack.env")["DATABASE_URL"] == stack.postgres.url
    assert stack.health() is not None


def test_down_stops_everything_it_started(settings):
    stack = LocalStack(settings)
    glue_port = int((settings.state_dir / "glue.port").read_text())

    output = flightpipe(settings, dict(os.environ), "down")

    assert output.strip() == "stopped: localstack, glue, postgres"
    for port in (settings.stack_port, settings.postgres_port, glue_port):
        assert not listening(port), port
    assert stack.pid() is None and stack.postgres.pid() is None
    assert not (settings.state_dir / "stack.env").exists()
