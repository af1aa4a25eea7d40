"""How the Glue jobs load the warehouse: stage through the Glue connection, then swap on the driver.

One path for Redshift and for PostgreSQL: the run's staging table is created on the job's own
JDBC connection; ``write_dynamic_frame.from_jdbc_conf`` writes the rows into it with ``dbtable``
and ``database`` only (no ``preactions``/``postactions``, which Glue runs on Redshift only); then,
in one transaction on the job's connection, the tables the load writes are locked, the day (or
the dimension) is replaced, the run recorded and the staging table dropped. Any failure rolls
back: the warehouse keeps what it had. Every value is a parameter of a prepared statement,
never SQL text. The connection is opened on the Spark driver's JVM with the driver Glue puts on
the job's class path, and verifies TLS when the Glue connection enforces SSL
(``JDBC_ENFORCE_SSL``).

Why this shape: docs/decisions/one-load-path.md; step by step: docs/architecture.md ("How a job
loads", "The job's connection").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

FACT_TABLE = "airlines.daily_flights_fact"
RUNS_TABLE = "airlines.pipeline_runs"
AIRPORTS_TABLE = "airlines.airports_dim"
AIRPORT_COLUMNS = ("airport_id", "city", "state", "name")
COUNT_COLUMNS = (
    "rows_read",
    "rows_loaded",
    "rows_below_threshold",
    "rows_missing_delay",
    "rows_quarantined",
    "rows_unmatched_airports",
)
RUN_COLUMNS = (
    "run_id",
    "flight_date",
    "input_object",
    "status",
    *COUNT_COLUMNS,
    "min_dep_delay",
    "started_at",
    "finished_at",
    "error_message",
)
# The JDBC driver class of each vendor a Glue connection URL can name (AWS: "Registering the
# driver class" of the Redshift JDBC driver 2.1; PostgreSQL's driver documentation).
DRIVER_CLASSES = {
    "postgresql": "org.postgresql.Driver",
    "redshift": "com.amazon.redshift.jdbc.Driver",
}
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_STATUS = re.compile(r"^[A-Z_]{1,16}$")
# PostgreSQL cuts identifiers at 63 bytes: daily_flights_fact_stage_<24>_<8> is 58.
_STAGE_RUN_PART = 24

# The jobs' optional arguments for the load:
# - the IAM role Redshift's COPY from TempDir assumes (a role attached to the cluster; the
#   connector's ``aws_iam_role``). Without it the connector hands the COPY the job's temporary
#   credentials, which expire an hour after the run starts.
# - how long the swap waits for its lock before it fails: a reader or writer that keeps the
#   tables (an open transaction in a SQL client) would otherwise hold the load until Glue's
#   timeout. Neither Redshift nor PostgreSQL before 9.3 has ``lock_timeout``; both abort a
#   statement, a LOCK's wait included, after ``statement_timeout``, so the LOCK alone runs under
#   one and the session's own setting is restored after it (``RESET``).
# - ``rehearsal``: "true" runs the whole load, swap included, and rolls the swap back instead of
#   committing it (``make smoke``: every statement and permission of a real load, no row kept).
COPY_ROLE_ARGUMENT = "warehouse_copy_role"
LOCK_WAIT_ARGUMENT = "lock_wait_seconds"
REHEARSAL_ARGUMENT = "rehearsal"
OPTIONAL = {COPY_ROLE_ARGUMENT: "", LOCK_WAIT_ARGUMENT: "600", REHEARSAL_ARGUMENT: "false"}

# One SQL statement and its parameters (``?`` placeholders, in order).
Statement = tuple[str, tuple[Any, ...]]


class LoadError(RuntimeError):
    """A statement of a load failed; the warehouse keeps what it had."""


@dataclass(frozen=True)
class LoadSettings:
    """How a load's swap behaves, from the job's arguments (``OPTIONAL``)."""

    lock_wait_seconds: int = 600
    rehearsal: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> LoadSettings:
        wait = str(args.get(LOCK_WAIT_ARGUMENT) or OPTIONAL[LOCK_WAIT_ARGUMENT])
        if not wait.isdigit() or int(wait) < 1:
            raise ValueError(f"--{LOCK_WAIT_ARGUMENT} {wait!r} is not a whole number of seconds")
        rehearsal = str(args.get(REHEARSAL_ARGUMENT) or "false")
        if rehearsal not in ("true", "false"):
            raise ValueError(f"--{REHEARSAL_ARGUMENT} {rehearsal!r} is neither true nor false")
        return cls(int(wait), rehearsal == "true")


def locked(tables: Sequence[str], wait_seconds: int) -> list[Statement]:
    """Lock ``tables`` for the transaction, waiting at most ``wait_seconds`` for them."""
    return [
        (f"SET statement_timeout TO {int(wait_seconds) * 1000}", ()),
        (f"LOCK {', '.join(tables)}", ()),
        ("RESET statement_timeout", ()),
    ]


@dataclass(frozen=True)
class RunRecord:
    """What the run table keeps about one successful run of a day."""

    run_id: str
    flight_date: date
    input_object: str
    counts: Mapping[str, int]
    min_dep_delay: int
    started_at: datetime
    finished_at: datetime


def stage_table(target: str, run_id: str) -> str:
    """The staging table of one run's load into ``target`` (a run never shares one)."""
    _checked(run_id, _RUN_ID)
    readable = re.sub(r"[^a-z0-9]+", "_", run_id.lower())[:_STAGE_RUN_PART].strip("_")
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{target}_stage_{readable}_{digest}"


def stage_statements(stage: str, target: str) -> list[Statement]:
    """A fresh staging table with the target's columns (a failed attempt's is replaced)."""
    return [(f"DROP TABLE IF EXISTS {stage}", ()), (f"CREATE TABLE {stage} (LIKE {target})", ())]


def day_swap(
    stage: str, columns: Sequence[str], run: RunRecord, settings: LoadSettings = LoadSettings()
) -> list[Statement]:
    """Replace the run's day in the fact table with the staged rows and record the run."""
    listed = ", ".join(columns)
    return [
        *locked((FACT_TABLE, RUNS_TABLE), settings.lock_wait_seconds),
        (f"DELETE FROM {FACT_TABLE} WHERE flight_date = ?", (run.flight_date,)),
        (f"INSERT INTO {FACT_TABLE} ({listed}) SELECT {listed} FROM {stage}", ()),
        (f"DELETE FROM {RUNS_TABLE} WHERE run_id = ?", (_checked(run.run_id, _RUN_ID),)),
        run_insert(run, status="SUCCEEDED"),
        (f"DROP TABLE {stage}", ()),
    ]


def airports_swap(stage: str, settings: LoadSettings = LoadSettings()) -> list[Statement]:
    """Swap the staged dimension in (its rows were checked for duplicate ids before staging)."""
    listed = ", ".join(AIRPORT_COLUMNS)
    return [
        *locked((AIRPORTS_TABLE,), settings.lock_wait_seconds),
        (f"DELETE FROM {AIRPORTS_TABLE}", ()),
        (f"INSERT INTO {AIRPORTS_TABLE} ({listed}) SELECT {listed} FROM {stage}", ()),
        (f"DROP TABLE {stage}", ()),
    ]


def run_insert(run: RunRecord, status: str, error_message: str | None = None) -> Statement:
    """An INSERT of ``run`` into the run table."""
    missing = [name for name in COUNT_COLUMNS if name not in run.counts]
    if missing:
        raise ValueError(f"run record lacks {', '.join(missing)}")
    for value in (run.input_object, error_message or ""):
        if "\x00" in value:
            raise ValueError(f"refusing to store {value!r}: it holds a NUL character")
    values = (
        _checked(run.run_id, _RUN_ID),
        run.flight_date,
        run.input_object,
        _checked(status, _STATUS),
        *(int(run.counts[name]) for name in COUNT_COLUMNS),
        int(run.min_dep_delay),
        run.started_at.replace(tzinfo=None, microsecond=0),
        run.finished_at.replace(tzinfo=None, microsecond=0),
        None if error_message is None else error_message[:4096],
    )
    marks = ", ".join("?" for _ in RUN_COLUMNS)
    return (f"INSERT INTO {RUNS_TABLE} ({', '.join(RUN_COLUMNS)}) VALUES ({marks})", values)


# --- the job's own JDBC connection -----------------------------------------------------------


@dataclass(frozen=True)
class JdbcTarget:
    """Where the job's own connection goes: the Glue connection's URL, database and login."""

    url: str
    user: str
    password: str
    # Driver properties beyond the login (TLS).
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def vendor(self) -> str:
        return self.url.removeprefix("jdbc:").split(":", 1)[0]


# Verified TLS with hostname matching, per driver: pgjdbc's "ssl", "sslmode", "sslrootcert" (its
# "SSL Support" page), Redshift JDBC 2.1's SSL, SSLMode, SSLRootCert (AWS's "Using one-way SSL
# authentication"). Without a root certificate, pgjdbc would look for ~/.postgresql/root.crt, so
# it is pointed at the JVM's trust store instead, where Redshift's driver looks by default.
TLS_PROPERTIES = {
    "postgresql": {"ssl": "true", "sslmode": "verify-full"},
    "redshift": {"SSL": "true", "SSLMode": "verify-full"},
}
ROOT_CERT_PROPERTY = {"postgresql": "sslrootcert", "redshift": "SSLRootCert"}
JVM_TRUST_STORE = {"postgresql": {"sslfactory": "org.postgresql.ssl.DefaultJavaSSLFactory"}}


def jdbc_target(
    jdbc_conf: Mapping[str, Any], database: str, root_cert: str | None = None
) -> JdbcTarget:
    """The target of ``GlueContext.extract_jdbc_conf``'s result, on ``database``; with TLS
    verified against ``root_cert`` (a file, else the JVM's trust store) when the connection
    enforces SSL.

    ``fullUrl`` is the URL as entered in the connection (AWS Glue 3.0 and later); ``url``, which
    AWS documents as deprecated, holds only protocol, host and port, so it is not used.
    """
    full_url = jdbc_conf.get("fullUrl")
    if not full_url:
        raise LoadError(
            "the Glue connection's JDBC settings have no fullUrl (AWS Glue 3.0 or later returns "
            f"it from extract_jdbc_conf); keys present: {', '.join(sorted(jdbc_conf))}"
        )
    parts = urlsplit(str(full_url).removeprefix("jdbc:"))
    vendor = parts.scheme
    if vendor not in DRIVER_CLASSES:
        raise LoadError(
            f"the Glue connection's URL is a {vendor!r} URL; the jobs load Redshift or PostgreSQL "
            f"({', '.join(DRIVER_CLASSES)})"
        )
    url = "jdbc:" + urlunsplit(parts._replace(path=f"/{database}"))
    properties: dict[str, str] = {}
    if str(jdbc_conf.get("enforceSSL", "false")).lower() == "true":
        properties |= TLS_PROPERTIES[vendor]
        if root_cert:
            properties[ROOT_CERT_PROPERTY[vendor]] = root_cert
        else:
            properties |= JVM_TRUST_STORE.get(vendor, {})
    user, password = str(jdbc_conf.get("user") or ""), str(jdbc_conf.get("password") or "")
    return JdbcTarget(url, user, password, properties)


def root_certificate(
    spark_context: Any, jdbc_conf: Mapping[str, Any], directory: str
) -> str | None:
    """The connection's ``customJDBCCert`` (an S3 URI) copied into ``directory`` through Spark's
    file system, when the connection enforces SSL and names one; else None."""
    uri = jdbc_conf.get("customJDBCCert")
    if not uri or str(jdbc_conf.get("enforceSSL", "false")).lower() != "true":
        return None
    jvm = spark_context._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(uri))
    try:
        stream = path.getFileSystem(spark_context._jsc.hadoopConfiguration()).open(path)
        try:
            text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
    except Exception as error:
        raise LoadError(
            f"cannot read the Glue connection's root certificate {uri} (CUSTOM_JDBC_CERT): "
            f"{java_message(error)}"
        ) from None
    if "BEGIN CERTIFICATE" not in text:
        raise LoadError(
            f"the Glue connection's root certificate {uri} (CUSTOM_JDBC_CERT) is not a PEM "
            "certificate (AWS Glue takes X.509 certificates, DER-encoded, in Base64 PEM)"
        )
    target = os.path.join(directory, "warehouse-root-ca.pem")
    with open(target, "w", encoding="ascii") as out:
        out.write(text)
    return target


class JdbcSession:
    """One transaction on a JDBC connection of the Spark driver's JVM (through py4j)."""

    def __init__(self, jvm: Any, connection: Any):
        self._jvm = jvm
        self._connection = connection

    def execute(self, statement: Statement) -> None:
        sql, params = statement
        prepared = self._connection.prepareStatement(sql)
        try:
            for position, value in enumerate(params, start=1):
                self._bind(prepared, position, value)
            prepared.execute()
        finally:
            prepared.close()

    def _bind(self, prepared: Any, position: int, value: Any) -> None:
        sql = self._jvm.java.sql
        if value is None:
            prepared.setNull(position, sql.Types.VARCHAR)
        elif isinstance(value, bool):
            raise TypeError(f"parameter {position}: no bool columns in the warehouse")
        elif isinstance(value, int):
            prepared.setLong(position, value)
        elif isinstance(value, str):
            prepared.setString(position, value)
        elif isinstance(value, datetime):
            prepared.setTimestamp(
                position, sql.Timestamp.valueOf(value.isoformat(sep=" ", timespec="seconds"))
            )
        elif isinstance(value, date):
            prepared.setDate(position, sql.Date.valueOf(value.isoformat()))
        else:
            raise TypeError(f"parameter {position}: cannot bind {type(value).__name__}")


@contextlib.contextmanager
def transaction(jvm: Any, target: JdbcTarget, commit: bool = True) -> Iterator[JdbcSession]:
    """A transaction on a new connection to ``target``: committed when the block ends (rolled
    back instead when ``commit`` is false), rolled back if it raises (the error goes on as it
    was); the connection is closed after."""
    connection = connect(jvm, target)
    try:
        connection.setAutoCommit(False)
        try:
            yield JdbcSession(jvm, connection)
            if commit:
                connection.commit()
            else:
                connection.rollback()
        except BaseException:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def connect(jvm: Any, target: JdbcTarget) -> Any:
    """A ``java.sql.Connection`` to ``target``.

    The driver is instantiated through the thread's context class loader, which sees the jars
    Spark was given (``--jars``, ``spark.jars``) as well as the JVM's class path; DriverManager
    would refuse a driver its py4j caller's class loader cannot see.
    """
    name = DRIVER_CLASSES[target.vendor]
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        driver = jvm.java.lang.Class.forName(name, True, loader).newInstance()
    except Exception as error:
        raise LoadError(
            f"the {target.vendor} JDBC driver ({name}) is not on the Spark driver's class path: "
            f"{java_message(error)}"
        ) from None
    properties = jvm.java.util.Properties()
    properties.setProperty("user", target.user)
    properties.setProperty("password", target.password)
    for key, value in target.properties.items():
        properties.setProperty(key, value)
    connection = driver.connect(target.url, properties)
    if connection is None:
        raise LoadError(f"the {target.vendor} JDBC driver does not accept {target.url}")
    return connection


def java_message(error: BaseException) -> str:
    """A Java exception raised through py4j as one line: its class and message, then each cause's
    ("Caused by: ..."); other errors as ``str``."""
    java = getattr(error, "java_exception", None)
    if java is None:
        return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    lines: list[str] = []
    while java is not None and len(lines) < 8:
        lines.append(" ".join(str(java.toString()).split()))
        java = java.getCause()
    return " Caused by: ".join(lines)


def job_target(glue_context: Any, connection: str, database: str) -> JdbcTarget:
    """Where the job's own connection goes: the Glue connection ``connection`` as
    ``extract_jdbc_conf`` returns it, on ``database``, with its TLS settings."""
    jdbc_conf = glue_context.extract_jdbc_conf(connection)
    spark_context = glue_context.spark_session.sparkContext
    root_cert = root_certificate(spark_context, jdbc_conf, tempfile.mkdtemp())
    return jdbc_target(jdbc_conf, database, root_cert)


def load_frame(
    glue_context: Any,
    frame: Any,
    target: str,
    run_id: str,
    swap: Callable[[str, LoadSettings], Sequence[Statement]],
    args: Mapping[str, str],
) -> None:
    """Load ``frame`` (a Spark DataFrame) into ``target`` the way this module describes: staged
    through the Glue connection ``args["connection_name"]`` into database
    ``args["warehouse_database"]`` (``TempDir`` for Redshift's COPY), then
    ``swap(stage, settings)``, committed unless the run is a rehearsal."""
    from awsglue.dynamicframe import DynamicFrame

    stage = stage_table(target, run_id)
    connection, database = args["connection_name"], args["warehouse_database"]
    jdbc = job_target(glue_context, connection, database)
    options = write_options(jdbc, stage, database, args.get(COPY_ROLE_ARGUMENT) or "")
    settings = LoadSettings.from_args(args)
    name = target.rsplit(".", 1)[-1]

    def write() -> None:
        glue_context.write_dynamic_frame.from_jdbc_conf(
            frame=DynamicFrame.fromDF(frame, glue_context, name),
            catalog_connection=connection,
            connection_options=options,
            redshift_tmp_dir=args.get("TempDir") or "",
            transformation_ctx=f"load_{name}",
        )

    jvm = glue_context.spark_session.sparkContext._jvm
    load(jvm, jdbc, stage, target, write, swap(stage, settings), commit=not settings.rehearsal)


def write_options(target: JdbcTarget, stage: str, database: str, copy_role: str) -> dict[str, str]:
    """``from_jdbc_conf``'s options for the staging write: the table and database, and on
    Redshift the COPY's role when one is given (refused on another connection, which has no COPY
    to give it to)."""
    options = {"dbtable": stage, "database": database}
    if copy_role:
        if target.vendor != "redshift":
            raise ValueError(
                f"--{COPY_ROLE_ARGUMENT} names the role of Redshift's COPY, but the Glue "
                f"connection is {target.vendor} at {target.url}"
            )
        options["aws_iam_role"] = copy_role
    return options


def load(
    jvm: Any,
    target: JdbcTarget,
    stage: str,
    like: str,
    write: Callable[[], None],
    swap: Sequence[Statement],
    commit: bool = True,
) -> None:
    """Stage, write (``write`` puts the rows into ``stage``), swap; on any failure the staging
    table is dropped and the error raised as a LoadError naming the step. With ``commit``
    false the swap runs to its end and is rolled back, and the staging table dropped."""
    step = "creating the staging table"
    try:
        with transaction(jvm, target) as session:
            for statement in stage_statements(stage, like):
                session.execute(statement)
        step = f"writing the rows into {stage} through the Glue connection"
        write()
        step = f"swapping {stage} into {like}"
        with transaction(jvm, target, commit) as session:
            for statement in swap:
                step = _swap_step(statement, stage, like)
                session.execute(statement)
    except Exception as error:
        _drop(jvm, target, stage)
        raise LoadError(f"load into {like} failed {step}: {java_message(error)}") from error
    if not commit:
        _drop(jvm, target, stage)


def _swap_step(statement: Statement, stage: str, like: str) -> str:
    """What a failure of ``statement`` of a swap means, for the load's error."""
    sql = statement[0]
    if sql.startswith("LOCK "):
        return (
            f"waiting for the lock on {sql[len('LOCK ') :]} (--{LOCK_WAIT_ARGUMENT}): another "
            "session holds one of these tables (an open transaction or a long query; Redshift's "
            "STV_LOCKS and SVV_TRANSACTIONS, PostgreSQL's pg_locks name it); nothing was changed"
        )
    return f"swapping {stage} into {like}"


def _drop(jvm: Any, target: JdbcTarget, stage: str) -> None:
    with contextlib.suppress(Exception), transaction(jvm, target) as session:
        session.execute((f"DROP TABLE IF EXISTS {stage}", ()))


def _checked(value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(value):
        raise ValueError(f"refusing to put {value!r} into SQL: it does not match {pattern.pattern}")
    return value
