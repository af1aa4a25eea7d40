"""The throwaway PostgreSQL component: start, reuse, stop by pid."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from flightpipe.devenv.postgres import (
    LocalPostgres,
    PostgresError,
    RunAs,
    find_bin_dir,
    free_port,
    throwaway,
)
from flightpipe.devenv.tls import server_tls
from flightpipe.paths import REPO


@pytest.fixture
def cluster_root():
    root = REPO / ".local" / "tmp" / f"pgcluster-{uuid.uuid4().hex[:8]}"
    yield root
    # also the directory a private checkout's cluster moved to, under the system temp dir
    LocalPostgres(root).delete()


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


def verified(cluster: LocalPostgres, host: str = "127.0.0.1") -> str:
    """The cluster's URL with libpq's verified TLS and hostname matching, as the deployed Glue
    connection asks (JDBC_ENFORCE_SSL)."""
    return (
        f"host={host} port={cluster.port} user=flightpipe dbname=flights "
        f"sslmode=verify-full sslrootcert={cluster.ca_cert}"
    )


def test_the_cluster_speaks_tls_that_verifies_against_its_ca_by_name(cluster_root, tmp_path):
    cluster = LocalPostgres(cluster_root, port=free_port())
    cluster.start()
    try:
        for host in ("127.0.0.1", "localhost"):
            with psycopg.connect(verified(cluster, host)) as conn:
                ssl = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                assert conn.execute(ssl).fetchone() == (True,)
        stranger = server_tls(tmp_path / "other", ["127.0.0.1"]).ca_cert
        with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
            psycopg.connect(verified(cluster).replace(str(cluster.ca_cert), str(stranger)))
    finally:
        cluster.stop()


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


@pytest.fixture
def private_checkout(tmp_path):
    """A checkout below a 0700 directory, as under /root or ``mktemp -d``, when we are root."""
    if os.geteuid() != 0:
        pytest.skip("only root runs the server as another user, who may not enter a private path")
    tmp_path.chmod(0o700)
    if RunAs.for_current_user().first_unenterable(tmp_path) is None:
        pytest.skip(f"the server's user can enter {tmp_path} despite mode 0700 (ACL?)")
    return tmp_path / "repo"


def test_root_runs_a_throwaway_cluster_from_a_private_checkout(private_checkout):
    root = private_checkout / ".local" / "tmp" / "pg-private"
    with throwaway(root) as cluster:
        moved_to, pid = cluster.cluster_dir, cluster.pid()
        assert not moved_to.is_relative_to(private_checkout)
        assert (moved_to.stat().st_mode & 0o777, moved_to.owner()) == (0o700, cluster.run_as.name)
        with psycopg.connect(verified(cluster)) as conn:
            data_dir = conn.execute("SELECT current_setting('data_directory')").fetchone()[0]
        assert Path(data_dir) == moved_to / "data"
    assert pid is not None and not _runs(pid)
    assert not moved_to.exists() and not root.exists()


def test_a_moved_cluster_is_found_again_after_a_restart(private_checkout):
    """``local down`` then ``local up``: new objects, same data, stopped by the recorded pid."""
    root = private_checkout / ".local" / "postgres"
    port = free_port()
    first = LocalPostgres(root, port=port, log_path=private_checkout / ".local/logs/pg.log")
    try:
        with psycopg.connect(first.start(), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (x int)")
        pid = first.pid()
        assert LocalPostgres(root, port=port).stop() is True and not _runs(pid)
        second = LocalPostgres(root, port=port)
        assert second.cluster_dir == first.cluster_dir != root
        with psycopg.connect(second.start()) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
        assert (private_checkout / ".local/logs/pg.log").stat().st_size > 0
    finally:
        first.stop()
        moved_to = first.cluster_dir
        first.delete()
    assert not moved_to.exists() and not root.exists()


def test_an_unreachable_temp_dir_is_a_clear_error(private_checkout, monkeypatch):
    private_tmp = private_checkout.parent / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    cluster = LocalPostgres(private_checkout / "pg", port=free_port())
    with pytest.raises(PostgresError, match="set TMPDIR to a directory"):
        cluster.start()
    assert cluster.pid() is None and list(private_tmp.iterdir()) == []


def _runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
    run_as = RunAs(user.pw_uid, user.pw_gid, user.pw_name)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for needed in (REPO, purelib, cluster_root.parent):
        blocked = run_as.first_unenterable(needed)
        if blocked is not None:
            pytest.skip(
                f"{user.pw_name} cannot enter {blocked}, so it cannot run this checkout's code "
                "(a private checkout: the root tests above cover it)"
            )
    root = cluster_root
    root.mkdir(parents=True)
    os.chown(root, user.pw_uid, user.pw_gid)
    script = (
        "import sys, psycopg\n"
        "from pathlib import Path\n"
        "from flightpipe.devenv.postgres import LocalPostgres, free_port\n"
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
            "PYTHONPATH": os.pathsep.join([str(REPO), str(purelib)]),
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
