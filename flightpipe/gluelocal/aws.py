"""boto3 clients and per-run scratch space for the local Glue runtime."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

# Set by the stand-in Glue image (standins/glue/Dockerfile): there, as in AWS's image, whose
# GlueContext calls Glue and Secrets Manager through AWS's Java client, those calls go to AWS's
# own endpoints whatever ``AWS_ENDPOINT_URL`` says, so a job reaches the local stack's only by the
# mechanism AWS's image honours too (the compose stack resolves those names to LocalStack,
# flightpipe/stack/glue_containers.py). Unset (the Docker-free path), they follow the environment.
AWS_ENDPOINTS_VARIABLE = "FLIGHTPIPE_AWSGLUE_AWS_ENDPOINTS"

_run_dir: ContextVar[Path | None] = ContextVar("gluelocal_run_dir", default=None)


def clients() -> tuple[Any, Any]:
    """(glue, s3) clients for the environment's region; S3's at the environment's endpoint
    (``AWS_ENDPOINT_URL``), as Spark's S3 settings are; Glue's as ``service_client`` says."""
    return service_client("glue"), boto3.client("s3")


def service_client(service: str, region: str | None = None) -> Any:
    """A client of a service GlueContext itself calls (Glue, Secrets Manager): at AWS's own
    endpoint when ``FLIGHTPIPE_AWSGLUE_AWS_ENDPOINTS=1``, else at the environment's."""
    aws_own = os.environ.get(AWS_ENDPOINTS_VARIABLE) == "1"
    config = Config(ignore_configured_endpoint_urls=True) if aws_own else None
    return boto3.client(service, region_name=region, config=config)


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
