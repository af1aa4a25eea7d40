"""PostgreSQL in the tests: the server a session runs against, and scratch databases on it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server for the tests, and the CA of its TLS certificate if we know it."""

    url: str
    ca_cert: Path | None


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
