"""A LocalStack of a test's own, as ``flightpipe local up`` starts it.

The project's LocalStack virtualenv (``.venv/localstack``, ``make install``) with the settings
``flightpipe.stack.local.localstack_environment`` gives it, on a free port, its files under the
test's folder, stopped by pid. Settings given to ``running_localstack`` override those, so that
a test can turn patches off (``FLIGHTPIPE_LOCALSTACK_SKIP``) or change the clock.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from flightpipe.devenv.postgres import free_port
from flightpipe.paths import REPO
from flightpipe.settings import LOCAL_CREDENTIALS, LocalSettings
from flightpipe.stack.local import LOCALSTACK_VENV, LocalStack, localstack_environment

REGION = "us-east-1"
HOOKS = REPO / "localstack" / "flightpipe_localstack" / "hooks.py"


def patch_names() -> tuple[str, ...]:
    """Every patch of localstack/flightpipe_localstack, by the name FLIGHTPIPE_LOCALSTACK_SKIP
    takes: each hook asks ``_enabled("<name>")`` before it applies one."""
    return tuple(re.findall(r'_enabled\("(\w+)"\)', HOOKS.read_text(encoding="utf-8")))


PATCHES = patch_names()
# Settings of the caller's environment that would change what a test's LocalStack is.
NOT_INHERITED = ("FLIGHTPIPE_LOCALSTACK_SKIP", "FLIGHTPIPE_TIME_SCALE", "FLIGHTPIPE_TIME_MODEL")


@dataclass(frozen=True)
class OwnLocalStack:
    endpoint: str
    log_file: Path

    def client(self, service: str) -> Any:
        """A client that does not retry: a refusal is seen once, as the caller made it."""
        return boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        ).client(
            service,
            endpoint_url=self.endpoint,
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def running_localstack(
    root: Path, glue_url: str = "http://127.0.0.1:9", **settings: str
) -> Iterator[OwnLocalStack]:
    """LocalStack under ``root`` until the block ends; ``settings`` are environment variables
    given to it over ``localstack_environment``'s (every patch applies unless skipped there)."""
    python = LOCALSTACK_VENV / "bin" / "python"
    assert python.is_file(), f"{python} is missing: run make install"
    local = LocalSettings(stack_port=free_port(), region=REGION, state_dir=root)
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTHON", "LOCALSTACK_"))
        and key != "VIRTUAL_ENV"
        and key not in NOT_INHERITED
    }
    env = {
        **inherited,
        **LOCAL_CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        **localstack_environment(local, glue_url),
        **settings,
    }
    (root / "localstack" / "tmp").mkdir(parents=True, exist_ok=True)
    process = LocalStack(local).localstack  # the same pid file, log and health check as up's
    process.start([str(python), "-m", "localstack.runtime.main"], env, timeout=90)
    try:
        yield OwnLocalStack(local.endpoint_url, process.log_file)
    finally:
        process.stop()
