"""A throwaway PostgreSQL cluster standing in for Redshift on one machine.

Why our own rather than testing.postgresql or pytest-postgresql: docs/decisions/own-code.md.

The cluster lives under one directory (data, Unix socket, log, pid), listens on 127.0.0.1 only, on
Redshift's port 5439 unless told otherwise, and trusts local connections: it is for development and
tests only and must never hold real data. It speaks TLS, as Redshift does, with a certificate for
127.0.0.1 and localhost from a CA of its own (``flightpipe.devenv.tls``; ``ca_cert``), so that
clients can verify it as the deployed connection asks (``sslmode=verify-full``). As root, the
server runs as the ``postgres`` system user (or ``nobody``), which owns the cluster directory.
It is stopped by the pid it was started with, never by name.

Root in a container is a normal way to run CI, and a checkout there often sits below a private
directory (``/root``, a ``mktemp -d``) that the server's user cannot enter. Then the data
directory and socket move to a private (0700) directory under the system temp dir, owned by
that user; the pid file and the log stay where they were asked for, since only we (root) touch
them. The moved directory is recorded in ``cluster-dir`` under the requested root, so a later
start (``local down`` then ``local up``) finds the same data and the pid file stays in one
place; deleting a throwaway cluster removes both directories. Whether the user can enter a path
is asked of the kernel, as that user, rather than guessed from mode bits. If the temp dir is not
reachable either, starting fails at once and says what to change.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from flightpipe.devenv import processes
from flightpipe.devenv.tls import server_tls

DEFAULT_PORT = 5439
SUPERUSER = "flightpipe"
DATABASE = "flights"
DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")
UNPRIVILEGED_USERS = ("postgres", "nobody")
# The names the server's certificate covers: how clients on this machine reach it.
TLS_HOSTNAMES = ("127.0.0.1", "localhost")
LOCATION_FILE = "cluster-dir"
RELOCATED_PREFIX = "flightpipe-pg-"
# Prints the first argument that is not an enterable directory, and fails; silent if all are.
FIRST_UNENTERABLE_SH = 'for d in "$@"; do [ -x "$d" ] || { printf %s "$d"; exit 1; }; done'


class PostgresError(RuntimeError):
    """The local PostgreSQL cluster could not be set up, started or stopped."""


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``postgres``: PATH first, then Debian's location."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    versions = sorted(
        (p for p in DEBIAN_BIN_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    raise PostgresError(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH or under "
        f"{DEBIAN_BIN_ROOT}/*/bin: install them (Debian: apt-get install postgresql) "
        "or set DATABASE_URL to a server you already have"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunAs:
    """The account the server runs under: ourselves, or an unprivileged user when we are root."""

    uid: int
    gid: int
    name: str

    @classmethod
    def for_current_user(cls) -> RunAs:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)
        for name in UNPRIVILEGED_USERS:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)
        raise PostgresError(
            "running as root and no unprivileged user to run PostgreSQL as "
            f"(tried {', '.join(UNPRIVILEGED_USERS)}): initdb refuses to run as root"
        )

    def popen_kwargs(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def first_unenterable(self, path: Path) -> Path | None:
        """The first directory from ``/`` down to ``path`` this account may not enter, or None.

        ``test -x`` runs as the account, so the kernel answers (groups and ACLs included).
        """
        chain = [str(p) for p in (*reversed(path.parents), path)]
        result = subprocess.run(
            ["/bin/sh", "-c", FIRST_UNENTERABLE_SH, "sh", *chain],
            capture_output=True,
            text=True,
            cwd="/",
            check=False,
            **self.popen_kwargs(),
        )
        return Path(result.stdout) if result.returncode != 0 else None


class LocalPostgres:
    """One cluster under ``root``: ``start()`` is idempotent, ``stop()`` stops it by pid."""

    def __init__(
        self,
        root: Path,
        port: int = DEFAULT_PORT,
        log_path: Path | None = None,
        tls: bool = True,
    ):
        self.root = root.resolve()
        self.tls = tls
        self.port = port
        self.pid_file = self.root / "server.pid"
        self.location_file = self.root / LOCATION_FILE
        self.log_path = log_path or self.root / "postgres.log"
        self.run_as = RunAs.for_current_user()

    @property
    def cluster_dir(self) -> Path:
        """Where data and socket live: ``root``, or the directory it was moved to as root."""
        return self._recorded_dir() or self.root

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.cluster_dir / "run"

    @property
    def ca_cert(self) -> Path:
        """The certificate of the CA that issued the server's (when started with ``tls``)."""
        return self.root / "tls" / "ca.crt"

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self, timeout: float = 30.0) -> str:
        """Initialise if needed, start unless running, wait until it accepts connections."""
        if self.pid() is not None and self._accepts_connections():
            return self.url
        bin_dir = find_bin_dir()
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        if self.tls:
            self._install_certificate()
        self._spawn(bin_dir)
        self._wait_ready(timeout)
        self._ensure_database()
        return self.url

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server started here (fast shutdown); True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        if not processes.stop(pid, signal.SIGINT, timeout):
            raise PostgresError(f"PostgreSQL (pid {pid}) did not stop within {timeout:.0f}s")
        self.pid_file.unlink(missing_ok=True)
        return True

    def pid(self) -> int | None:
        """The pid of the running server started here, or None."""
        return processes.read_pid(self.pid_file)

    def delete(self) -> None:
        """Remove the stopped cluster's files: ``root`` and the directory it moved to, if any."""
        pid = self.pid()
        if pid is not None:
            raise PostgresError(f"PostgreSQL (pid {pid}) still runs: stop it before deleting")
        shutil.rmtree(self.cluster_dir, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cluster_dir = self._place_cluster()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            for path in (cluster_dir, self.socket_dir):
                os.chown(path, self.run_as.uid, self.run_as.gid)
            if self.data_dir.exists():
                os.chown(self.data_dir, self.run_as.uid, self.run_as.gid)

    def _place_cluster(self) -> Path:
        """``root`` if the server's account can enter it, else a recorded directory it can."""
        recorded = self._recorded_dir()
        if os.geteuid() != 0 or recorded is not None:
            return recorded or self.root
        blocked = self.run_as.first_unenterable(self.root.parent)
        if blocked is None:
            self.location_file.unlink(missing_ok=True)
            return self.root
        user = self.run_as.name
        if (self.root / "data" / "PG_VERSION").exists():
            raise PostgresError(
                f"{self.root / 'data'} holds a cluster, but PostgreSQL runs as {user}, who "
                f"cannot enter {blocked}: let it in (chmod o+x {blocked}) or delete the cluster"
            )
        relocated = Path(tempfile.mkdtemp(prefix=RELOCATED_PREFIX))
        try:
            os.chown(relocated, self.run_as.uid, self.run_as.gid)
            blocked_tmp = self.run_as.first_unenterable(relocated)
        except BaseException:
            relocated.rmdir()
            raise
        if blocked_tmp is not None:
            relocated.rmdir()
            raise PostgresError(
                f"PostgreSQL runs as {user}, who cannot enter {blocked} (on the way to "
                f"{self.root}) nor {blocked_tmp} (on the way to the temp dir {relocated.parent}): "
                f"set TMPDIR to a directory {user} can enter, or let it into {blocked} "
                f"(chmod o+x {blocked}), or set DATABASE_URL to a server you already have"
            )
        self.location_file.write_text(f"{relocated}\n")
        return relocated

    def _recorded_dir(self) -> Path | None:
        """The directory recorded in ``location_file`` if it still exists as the server's own."""
        try:
            recorded = Path(self.location_file.read_text().strip())
            info = recorded.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        ours = stat.S_ISDIR(info.st_mode) and info.st_uid == self.run_as.uid
        return recorded if recorded.is_absolute() and ours else None

    def _initdb(self, bin_dir: Path) -> None:
        result = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                # Dev/test only: trust connections from this machine, no password.
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            cwd=self.cluster_dir,
            check=False,
            **self.run_as.popen_kwargs(),
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed in {self.data_dir}:\n{result.stderr.strip()}")

    def _install_certificate(self) -> None:
        """The server's certificate and key where PostgreSQL looks by default (``server.crt``
        and ``server.key`` in the data directory), owned by the server's account; the key
        readable by it alone, as PostgreSQL requires."""
        files = server_tls(self.ca_cert.parent, TLS_HOSTNAMES)
        for source, name in ((files.cert, "server.crt"), (files.key, "server.key")):
            target = self.data_dir / name
            target.unlink(missing_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o600)
            if os.geteuid() == 0:
                os.chown(target, self.run_as.uid, self.run_as.gid)

    def _spawn(self, bin_dir: Path) -> None:
        if not _port_free(self.port):
            raise PostgresError(
                f"port {self.port} on 127.0.0.1 is in use by another program: "
                "stop it or choose another port"
            )
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.socket_dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"ssl={'on' if self.tls else 'off'}",
                    # Throwaway data: durability is not worth the fsyncs.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cluster_dir,
                start_new_session=True,
                **self.run_as.popen_kwargs(),
            )
        self.pid_file.write_text(f"{process.pid}\n")
        self._process = process

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = getattr(self, "_process", None)
            if process is not None and process.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise PostgresError(
                    f"PostgreSQL exited with code {process.returncode} at start; "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
                )
            if self._accepts_connections(dbname="postgres"):
                return
            time.sleep(0.1)
        raise PostgresError(f"PostgreSQL did not accept connections within {timeout:.0f}s")

    def _accepts_connections(self, dbname: str = DATABASE) -> bool:
        url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"
        try:
            with psycopg.connect(url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _ensure_database(self) -> None:
        admin = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')


@contextlib.contextmanager
def throwaway(root: Path, port: int | None = None, tls: bool = True) -> Iterator[LocalPostgres]:
    """A cluster that exists for the duration of the block, then is stopped and deleted."""
    cluster = LocalPostgres(root, port=port or free_port(), tls=tls)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        cluster.delete()


def _port_free(port: int) -> bool:
    """Whether nothing listens on the port (TIME_WAIT leftovers of a stopped server don't count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
