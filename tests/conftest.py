"""Shared fixtures: one warm SparkSession, a moto server, and a scratch PostgreSQL database per
test session.

``make test`` exports DATABASE_URL for a throwaway server it started; run alone, pytest starts
its own. Tests never touch the database DATABASE_URL names: they create a scratch database
beside it and drop it at the end.

The day job reads and writes S3 from Spark's JVM (Hadoop's S3A), which in-process moto
(``mock_aws``) cannot reach: tests that run it use the session's moto server instead, which the
session's Spark is pointed at when it starts (Hadoop's configuration is fixed then).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent


# Credentials and region for clients of the moto server (it accepts any).
MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint of a moto server serving this test session from a thread on a free port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark(moto_server: str):
    """The session's SparkSession, its ``s3://`` filesystem pointed at the moto server."""
    from flightpipe.gluelocal.runner import local_spark

    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**MOTO_ENVIRONMENT, "AWS_ENDPOINT_URL": moto_server}.items():
            patch.setenv(name, value)
        return local_spark("flightpipe-tests")


@pytest.fixture
def moto_endpoint(moto_server: str, spark: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto server, emptied, as the endpoint of every AWS client of the test (boto3's and
    the session Spark's)."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=30):
        pass
    for name, value in {**MOTO_ENVIRONMENT, "AWS_ENDPOINT_URL": moto_server}.items():
        monkeypatch.setenv(name, value)
    return moto_server


def read_json_lines(s3: Any, prefix: str) -> list[dict[str, Any]]:
    """The records of the JSON-lines part files Spark wrote under ``prefix`` (s3://...), in
    (source, line_number) order."""
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
        for item in page.get("Contents", [])
        if item["Key"].rsplit("/", 1)[-1].startswith("part-")
    ]
    records = [
        json.loads(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    ]
    return sorted(records, key=lambda r: (r["source"], r["line_number"]))


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server for the tests, and the CA of its TLS certificate if we know it."""

    url: str
    ca_cert: Path | None


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """DATABASE_URL's server (its CA from PGSSLROOTCERT, as libpq finds it), or a throwaway one
    started for this session."""
    url = os.environ.get("DATABASE_URL")
    if url:
        given = os.environ.get("PGSSLROOTCERT")
        yield Server(url, Path(given) if given else None)
        return
    from flightpipe.postgres import throwaway

    root = REPO / ".local" / "tmp" / f"pytest-pg-{uuid.uuid4().hex[:8]}"
    with throwaway(root) as cluster:
        yield Server(cluster.url, cluster.ca_cert)


@pytest.fixture(scope="session")
def server_url(server: Server) -> str:
    return server.url


@contextlib.contextmanager
def created_database(server_url: str) -> Iterator[str]:
    """URL of a new database on the server, dropped when the block ends."""
    name = f"flightpipe_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def scratch_database(server_url: str) -> Iterator[str]:
    """URL of a database created for this test session and dropped after it."""
    with created_database(server_url) as url:
        yield url


@pytest.fixture
def warehouse_url(scratch_database: str) -> str:
    """The scratch database with the schema freshly applied and empty tables."""
    from flightpipe.warehouse import PostgresWarehouse

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS airlines CASCADE")
    PostgresWarehouse(scratch_database).apply_schema()
    return scratch_database
