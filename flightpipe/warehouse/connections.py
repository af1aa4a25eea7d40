"""Warehouse access: Redshift in AWS, PostgreSQL locally, behind one small interface.

Everything the pipeline does to the warehouse is a bulk load of CSV into one table, wrapped in
SQL run before and after it, all in one transaction: that is the contract of a Glue
``write_dynamic_frame.from_jdbc_conf`` with ``preactions``/``postactions`` (the local runtime
runs it as Glue's Redshift writer does, in ``flightpipe.gluelocal.jdbc``), and it is what makes
a day's or the dimension's replacement atomic. This module gives that writer, and the schema
apply, a transaction with ``execute``, ``query`` and a bulk ``copy_csv``. The two
implementations differ only in how they connect and how they bulk-load:

* ``RedshiftWarehouse``: redshift-connector, ``COPY ... FROM 's3://...' IAM_ROLE ...``; local CSV
  files are staged to S3 first, as Glue's Redshift connector stages a frame (``_RedshiftSession``).
* ``PostgresWarehouse``: psycopg 3, ``COPY ... FROM STDIN`` streamed from files or from S3.
  (redshift-connector cannot talk to plain PostgreSQL: it sends Redshift-only startup parameters.)

Which one is used follows from the URL (``postgresql://`` or ``redshift://``, or a Glue
connection's ``jdbc:`` URL); callers never branch on it.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from flightpipe.warehouse.sqlfiles import SqlFile, sql_files

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")
COPY_CHUNK = 1 << 20


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the transaction it ran in was rolled back."""


def identifier(name: str) -> str:
    """``name`` if it is a plain lowercase ``[schema.]table`` identifier, else ValueError."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain lowercase SQL identifier: {name!r}")
    return name


@dataclass(frozen=True)
class CsvSource:
    """Header-less CSV to bulk-load: local files (none for no rows), or every object under an
    S3 prefix.

    Empty unquoted fields load as NULL, quoted empty strings as ''. That is what both
    PostgreSQL's and Redshift's ``COPY ... CSV`` do, and what Spark's CSV writer produces.
    """

    paths: tuple[Path, ...] = ()
    s3_uri: str | None = None

    def __post_init__(self) -> None:
        if self.paths and self.s3_uri:
            raise ValueError("a CsvSource is either local paths or one s3:// prefix, not both")


class Session(Protocol):
    """SQL inside one open transaction."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def copy_csv(self, table: str, columns: Sequence[str], source: CsvSource) -> int: ...


class Warehouse(ABC):
    """A SQL warehouse the pipeline loads into."""

    dialect: str

    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Session]:
        """A session whose work commits when the block ends and rolls back if it raises."""

    def schema_sql(self, ddl: SqlFile) -> str:
        return ddl.redshift

    def apply_schema(self, files: Sequence[SqlFile] | None = None) -> list[str]:
        """Apply ``sql/`` in order, in one transaction; re-applying changes nothing."""
        applied = []
        with self.transaction() as session:
            for ddl in files if files is not None else sql_files():
                for statement in split_statements(self.schema_sql(ddl)):
                    session.execute(statement)
                applied.append(ddl.path.name)
        return applied


def split_statements(sql: str) -> list[str]:
    """Split a ``;``-separated SQL list (Glue's pre/postactions format), respecting quotes."""
    statements, current, quote = [], [], ""
    for char in sql:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
    statements.append("".join(current))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    lines = [line.split("--", 1)[0] for line in statement.splitlines()]
    return bool("".join(lines).strip())


def _column_list(columns: Sequence[str]) -> str:
    return ", ".join(identifier(c) for c in columns)


# --- PostgreSQL -----------------------------------------------------------------------------


class PostgresWarehouse(Warehouse):
    """PostgreSQL through psycopg 3: the local stand-in for Redshift."""

    dialect = "postgres"

    def __init__(self, url: str, s3_client: Any = None):
        self.url = url
        self._s3 = s3_client

    def schema_sql(self, ddl: SqlFile) -> str:
        return ddl.postgres

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        import psycopg

        try:
            with psycopg.connect(self.url) as conn, conn.transaction():
                yield _PostgresSession(conn, self._s3)
        except psycopg.Error as error:
            raise WarehouseError(f"PostgreSQL: {error}".strip()) from error


@dataclass
class _PostgresSession:
    conn: Any
    s3: Any = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params).fetchall())

    def copy_csv(self, table: str, columns: Sequence[str], source: CsvSource) -> int:
        statement = (
            f"COPY {identifier(table)} ({_column_list(columns)}) FROM STDIN WITH (FORMAT csv)"
        )
        with self.conn.cursor() as cursor:
            with cursor.copy(statement) as copy:
                for chunk in self._chunks(source):
                    copy.write(chunk)
            return int(cursor.rowcount)

    def _chunks(self, source: CsvSource) -> Iterator[bytes]:
        for path in source.paths:
            with path.open("rb") as handle:
                while chunk := handle.read(COPY_CHUNK):
                    yield chunk
        if source.s3_uri:
            s3 = self.s3 or _default_s3()
            for bucket, key in _s3_objects(s3, source.s3_uri):
                body = s3.get_object(Bucket=bucket, Key=key)["Body"]
                yield from body.iter_chunks(COPY_CHUNK)


# --- Redshift -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedshiftSettings:
    """How to reach a Redshift database and where COPY reads staged files from."""

    host: str
    port: int
    database: str
    user: str
    password: str
    iam_role_arn: str
    staging_s3_uri: str
    extra: dict[str, Any] = field(default_factory=dict)


class RedshiftWarehouse(Warehouse):
    """Amazon Redshift through redshift-connector; bulk loads are S3 COPYs."""

    dialect = "redshift"

    def __init__(self, settings: RedshiftSettings, s3_client: Any = None):
        self.settings = settings
        self._s3 = s3_client

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        import redshift_connector

        s = self.settings
        conn = redshift_connector.connect(
            host=s.host,
            port=s.port,
            database=s.database,
            user=s.user,
            password=s.password,
            **s.extra,
        )
        try:
            conn.autocommit = False
            yield _RedshiftSession(conn, s, self._s3)
            conn.commit()
        except redshift_connector.Error as error:
            conn.rollback()
            raise WarehouseError(f"Redshift: {error}") from error
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()


@dataclass
class _RedshiftSession:
    conn: Any
    settings: RedshiftSettings
    s3: Any = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with contextlib.closing(self.conn.cursor()) as cursor:
            cursor.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with contextlib.closing(self.conn.cursor()) as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]

    def copy_csv(self, table: str, columns: Sequence[str], source: CsvSource) -> int:
        if not source.paths and not source.s3_uri:
            return 0
        copy = (
            f"COPY {identifier(table)} ({_column_list(columns)}) FROM %s IAM_ROLE %s FORMAT AS CSV"
        )
        if source.paths:
            copy, uri = copy + " MANIFEST", self._unload(source.paths)
        else:
            uri = source.s3_uri or ""
        with contextlib.closing(self.conn.cursor()) as cursor:
            cursor.execute(copy, (uri, self.settings.iam_role_arn))
            cursor.execute("SELECT pg_last_copy_count()")
            return int(cursor.fetchone()[0])

    def _unload(self, paths: Sequence[Path]) -> str:
        """Stage ``paths`` under the staging prefix as Glue's Redshift connector stages a frame
        (spark-redshift-community/spark-redshift, ``RedshiftWriter.unloadData`` at commit
        046da8187e9223f61d956ce47ef4916f8feff2a7): a folder of its own (``<tempdir>/<UUID>/``),
        the part files under the names Spark gave them, Spark's ``_SUCCESS``, then a
        ``manifest.json`` naming each part (``mandatory``, ``content_length``) for a ``COPY ...
        MANIFEST``; the manifest's S3 URI. As the connector, nothing is deleted afterwards: the
        bucket's lifecycle rule expires the prefix (infra/pipeline.yaml, ``glue-temp``)."""
        s3 = self.s3 or _default_s3()
        bucket, prefix = _split_s3(self.settings.staging_s3_uri)
        folder = f"{prefix.rstrip('/')}/{uuid.uuid4()}/".lstrip("/")
        entries = []
        for path in paths:
            s3.upload_file(str(path), bucket, folder + path.name)
            entries.append(
                {
                    "url": f"s3://{bucket}/{folder}{path.name}",
                    "mandatory": True,
                    "meta": {"content_length": path.stat().st_size},
                }
            )
        s3.put_object(Bucket=bucket, Key=f"{folder}_SUCCESS", Body=b"")
        manifest = json.dumps({"entries": entries}).encode()
        s3.put_object(Bucket=bucket, Key=f"{folder}manifest.json", Body=manifest)
        return f"s3://{bucket}/{folder}manifest.json"


# --- construction ---------------------------------------------------------------------------


def warehouse_from_url(url: str, **redshift: Any) -> Warehouse:
    """The warehouse a URL names: ``postgresql://...`` or ``redshift://user:pw@host:port/db``.

    A Glue connection's ``jdbc:postgresql://`` / ``jdbc:redshift://`` URL works too, with the user
    and password given as keyword arguments. Redshift also needs ``iam_role_arn`` and
    ``staging_s3_uri``.
    """
    url = url.removeprefix("jdbc:")
    parts = urlsplit(url)
    user = redshift.pop("user", None) or unquote(parts.username or "")
    password = redshift.pop("password", None) or unquote(parts.password or "")
    s3_client = redshift.pop("s3_client", None)
    if parts.scheme in ("postgresql", "postgres"):
        if user:
            url = _with_credentials(parts, user, password)
        return PostgresWarehouse(url, s3_client=s3_client)
    if parts.scheme == "redshift":
        settings = RedshiftSettings(
            host=parts.hostname or "",
            port=parts.port or 5439,
            database=parts.path.lstrip("/"),
            user=user,
            password=password,
            iam_role_arn=redshift.pop("iam_role_arn"),
            staging_s3_uri=redshift.pop("staging_s3_uri"),
            extra=redshift,
        )
        return RedshiftWarehouse(settings, s3_client=s3_client)
    raise ValueError(f"unsupported warehouse URL scheme {parts.scheme!r} (postgresql or redshift)")


def _with_credentials(parts: Any, user: str, password: str) -> str:
    from urllib.parse import quote

    auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    host = parts.hostname or "127.0.0.1"
    port = f":{parts.port}" if parts.port else ""
    query = f"?{parts.query}" if parts.query else ""
    return f"postgresql://{auth}@{host}{port}{parts.path}{query}"


def _default_s3() -> Any:
    import boto3

    return boto3.client("s3")


def _split_s3(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "s3a") or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def _s3_objects(s3: Any, uri: str) -> Iterator[tuple[str, str]]:
    bucket, prefix = _split_s3(uri)
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                yield bucket, item["Key"]
