"""Shared fixtures: one warm SparkSession, and a scratch PostgreSQL database per test session.

``make test`` exports DATABASE_URL for a throwaway server it started; run alone, pytest starts
its own. Tests never touch the database DATABASE_URL names: they create a scratch database
beside it and drop it at the end.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def spark():
    from flightpipe.gluelocal.runner import local_spark

    return local_spark("flightpipe-tests")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: DATABASE_URL's, or a throwaway one started for this session."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from flightpipe.postgres import throwaway

    root = REPO / ".local" / "tmp" / f"pytest-pg-{uuid.uuid4().hex[:8]}"
    with throwaway(root) as cluster:
        yield cluster.url


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
