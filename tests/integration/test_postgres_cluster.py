"""The throwaway PostgreSQL component: start, reuse, stop by pid."""

from __future__ import annotations

import os
import shutil
import uuid

import psycopg
import pytest

from flightpipe.postgres import LocalPostgres, PostgresError, find_bin_dir, free_port
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster_root():
    root = REPO / ".local" / "tmp" / f"pgcluster-{uuid.uuid4().hex[:8]}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_start_is_idempotent_and_stop_ends_the_process(cluster_root):
    cluster = LocalPostgres(cluster_root, port=free_port())
    url = cluster.start()
    try:
        pid = cluster.pid()
        assert pid is not None
        assert cluster.start() == url and cluster.pid() == pid
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("flights",)
            if os.geteuid() == 0:
                owner = conn.execute("SELECT current_setting('data_directory')").fetchone()[0]
                assert os.stat(owner).st_uid != 0, "the server must not run as root"
    finally:
        assert cluster.stop() is True
    assert cluster.pid() is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert cluster.stop() is False


def test_data_survives_a_restart(cluster_root):
    cluster = LocalPostgres(cluster_root, port=free_port())
    try:
        with psycopg.connect(cluster.start(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
        cluster.stop()
        with psycopg.connect(cluster.start()) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    finally:
        cluster.stop()


def test_port_in_use_is_a_clear_error(cluster_root):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cluster = LocalPostgres(cluster_root, port=busy.getsockname()[1])
        with pytest.raises(PostgresError, match="in use"):
            cluster.start()


def test_binaries_are_found():
    assert (find_bin_dir() / "initdb").exists()
