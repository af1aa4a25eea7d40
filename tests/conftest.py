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

import os
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from flightpipe.paths import REPO
from tests.support.aws import MOTO_ENVIRONMENT
from tests.support.postgres import Server, created_database

# A test's tier is the folder it is in; ``make test-unit`` and the others select by it.
TIERS = ("unit", "functional", "integration", "docker")
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m selects by the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's tier, and with ``spark`` when it uses the session's
    SparkSession (``make test-fast`` leaves those out)."""
    for item in items:
        tier = item.path.resolve().relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.nodeid}: tests live in one of tests/{{{','.join(TIERS)}}}"
            )
        item.add_marker(tier)
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker("spark")


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


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """DATABASE_URL's server (its CA from PGSSLROOTCERT, as libpq finds it), or a throwaway one
    started for this session."""
    url = os.environ.get("DATABASE_URL")
    if url:
        given = os.environ.get("PGSSLROOTCERT")
        yield Server(url, Path(given) if given else None)
        return
    from flightpipe.devenv.postgres import throwaway

    root = REPO / ".local" / "tmp" / f"pytest-pg-{uuid.uuid4().hex[:8]}"
    with throwaway(root) as cluster:
        yield Server(cluster.url, cluster.ca_cert)


@pytest.fixture(scope="session")
def server_url(server: Server) -> str:
    return server.url


@pytest.fixture(scope="session")
def scratch_database(server_url: str) -> Iterator[str]:
    """URL of a database created for this test session and dropped after it."""
    with created_database(server_url) as url:
        yield url


@pytest.fixture
def warehouse_url(scratch_database: str) -> str:
    """The scratch database with the schema freshly applied and empty tables."""
    from flightpipe.warehouse.connections import PostgresWarehouse

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS airlines CASCADE")
    PostgresWarehouse(scratch_database).apply_schema()
    return scratch_database
