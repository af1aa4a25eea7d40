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


@pytest.mark.skipif(os.geteuid() != 0, reason="the other tests already run as a normal user")
def test_works_when_started_by_a_normal_user(cluster_root):
    """As root the server runs as an unprivileged user; here the whole component does."""
    import pwd
    import subprocess
    import sysconfig

    user = pwd.getpwnam("postgres") if "postgres" in {p.pw_name for p in pwd.getpwall()} else None
    if user is None:
        pytest.skip("no unprivileged 'postgres' user to run as")
    root = cluster_root
    root.mkdir(parents=True)
    os.chown(root, user.pw_uid, user.pw_gid)
    script = (
        "import sys, psycopg\n"
        "from pathlib import Path\n"
        "from flightpipe.postgres import LocalPostgres, free_port\n"
        "cluster = LocalPostgres(Path(sys.argv[1]) / 'pg', port=free_port())\n"
        "try:\n"
        "    with psycopg.connect(cluster.start()) as conn:\n"
        "        print(conn.execute('SELECT current_user').fetchone()[0])\n"
        "finally:\n"
        "    print(cluster.stop())\n"
    )
    as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    python = _interpreter_for(as_user)
    result = subprocess.run(
        [python, "-c", script, str(root)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        **as_user,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(root),
            "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]]),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["flightpipe", "True"]


def _interpreter_for(as_user: dict) -> str:
    """This Python, or the system's Python 3.11 when ours lives in a home the user cannot enter."""
    import subprocess
    import sys

    for candidate in (sys.executable, "/usr/bin/python3.11"):
        try:
            subprocess.run([candidate, "-c", "pass"], check=True, timeout=60, **as_user)
        except (PermissionError, FileNotFoundError, subprocess.CalledProcessError):
            continue
        return candidate
    pytest.skip("no Python 3.11 interpreter the unprivileged user may run")
