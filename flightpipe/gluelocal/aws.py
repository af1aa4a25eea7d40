"""boto3 clients and per-run scratch space for the local Glue runtime."""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import boto3

_run_dir: ContextVar[Path | None] = ContextVar("gluelocal_run_dir", default=None)


def clients() -> tuple[Any, Any]:
    """(glue, s3) clients for the environment's endpoint (``AWS_ENDPOINT_URL``) and region."""
    return boto3.client("glue"), boto3.client("s3")


@contextlib.contextmanager
def run_scope(parent: Path | None = None) -> Iterator[Path]:
    """Scratch space for one job run (downloaded objects, staged CSV); removed afterwards."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="gluerun-", dir=parent))
    token = _run_dir.set(path)
    try:
        yield path
    finally:
        _run_dir.reset(token)
        shutil.rmtree(path, ignore_errors=True)


def scratch_dir(prefix: str) -> Path:
    """A new directory in the current run's scratch space (or a process-wide one)."""
    root = _run_dir.get()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="gluelocal-"))
        _run_dir.set(root)
        atexit.register(shutil.rmtree, root, True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
