"""boto3 clients, per-run scratch space and per-run identity for the local Glue runtime.

Many job runs share one process here. On AWS each runs with its own role's credentials, so a run
may be given them (``run_identity``): its thread's ``boto3.client(...)`` calls are made with
them, and its GlueContext gets a SparkSession of its own that reads and writes S3 with them
(``flightpipe.gluelocal.runner.run_session``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
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
_run_session: ContextVar[boto3.session.Session | None] = ContextVar(
    "gluelocal_run_session", default=None
)
_run_spark: ContextVar[Any] = ContextVar("gluelocal_run_spark", default=None)


class _RunDefaultSession:
    """boto3's default session (``boto3.DEFAULT_SESSION``, which ``boto3.client`` uses): the
    current run's session where one was given, else a session as boto3 makes its default."""

    def __init__(self) -> None:
        self._default: boto3.session.Session | None = None

    def __getattr__(self, name: str) -> Any:
        session = _run_session.get()
        if session is None:
            if self._default is None:
                self._default = boto3.session.Session()
            session = self._default
        return getattr(session, name)


@contextlib.contextmanager
def run_identity(credentials: Mapping[str, str], spark: Any = None) -> Iterator[None]:
    """Within it, this thread's ``boto3.client(...)`` calls use ``credentials``
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), as a Glue job's
    calls use its role's session, and ``GlueContext`` takes ``spark`` as its session."""
    if not isinstance(boto3.DEFAULT_SESSION, _RunDefaultSession):
        boto3.DEFAULT_SESSION = _RunDefaultSession()
    session = boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
    )
    tokens = _run_session.set(session), _run_spark.set(spark)
    try:
        yield
    finally:
        _run_spark.reset(tokens[1])
        _run_session.reset(tokens[0])


def run_spark_session() -> Any:
    """The current run's own SparkSession (``run_identity``), or None."""
    return _run_spark.get()


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


def s3_location(uri: str) -> tuple[str, str]:
    """The bucket and key (or prefix, perhaps empty) of ``s3://bucket/key``; ValueError for
    anything else. Split at the first slash, not parsed as a URL: a key may hold ``#`` and
    ``?``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


def scratch_dir(prefix: str) -> Path:
    """A new directory in the current run's scratch space (or a process-wide one)."""
    root = _run_dir.get()
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="gluelocal-"))
        _run_dir.set(root)
        atexit.register(shutil.rmtree, root, True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
