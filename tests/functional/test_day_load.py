"""The jobs' load path (``glue_job/flightjob/warehouse.py``): the staging table created on the
job's own JDBC connection, the rows written through the Glue connection without
pre/postactions, then the swap in one transaction on the Spark driver's JVM.

The JDBC connection is the real one: the local Spark's JVM with the PostgreSQL JDBC driver, as
AWS Glue 5.0 has it on a job's class path (AWS Glue's "JDBC connections" page: PostgreSQL
42.7.3, Amazon Redshift redshift-jdbc42-2.1.0.29). ``extract_jdbc_conf``'s keys are those of
AWS's GlueContext API page (``fullUrl``: the URL as entered; ``url``: deprecated, without the
database). The Glue connection is the moto server's; the warehouse is the local PostgreSQL.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

import boto3
import psycopg
import pytest

from flightjob import warehouse
from flightjob.flights import FACT_COLUMNS
from flightpipe.devenv.postgres import throwaway
from flightpipe.devenv.tls import server_tls
from flightpipe.gluelocal import SHIM_PATH
from flightpipe.warehouse.connections import WarehouseError

if str(SHIM_PATH) not in sys.path:
    sys.path.insert(0, str(SHIM_PATH))

from awsglue.context import GlueContext

DAY = date(2013, 1, 1)
FACT_SCHEMA = (
    "carrier STRING, dep_airport_id BIGINT, arr_airport_id BIGINT, dep_airport STRING, "
    "arr_airport STRING, dep_city STRING, arr_city STRING, dep_state STRING, arr_state STRING, "
    "dep_delay BIGINT, arr_delay BIGINT, flight_date DATE"
)


@dataclass(frozen=True)
class Job:
    """What a job run has: its GlueContext, and the warehouse's URL."""

    context: GlueContext
    url: str


@pytest.fixture
def job(moto_endpoint, warehouse_url, spark) -> Job:
    """The shim's GlueContext, with a Glue connection ``warehouse`` to the scratch database
    (whose URL names another database: the job's ``--warehouse_database`` replaces it), on the
    session's moto server, which clients made in any thread reach."""
    glue_connection("warehouse", warehouse_url)
    return Job(GlueContext(spark.sparkContext), warehouse_url)


def glue_connection(name: str, url: str, **properties: str) -> None:
    """A Glue connection ``name`` to the server of ``url`` (the database in its URL is ``dev``),
    with ``properties`` beside the URL and login."""
    parts = urlsplit(url)
    boto3.client("glue").create_connection(
        ConnectionInput={
            "Name": name,
            "ConnectionType": "JDBC",
            "ConnectionProperties": {
                "JDBC_CONNECTION_URL": f"jdbc:postgresql://{parts.hostname}:{parts.port}/dev",
                "USERNAME": parts.username or "",
                **({"PASSWORD": parts.password} if parts.password else {}),
                **properties,
            },
        }
    )


def database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def execute(url: str, sql: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(sql)


def fact_row(carrier: str, dep_delay: int, day: date = DAY) -> tuple:
    return (
        carrier,
        10397,
        12478,
        "ATL",
        "JFK",
        "Atlanta",
        "New York",
        "GA",
        "NY",
        dep_delay,
        5,
        day,
    )


def record(
    run_id: str, loaded: int, day: date = DAY, key: str = "flights.csv"
) -> warehouse.RunRecord:
    counts = dict.fromkeys(warehouse.COUNT_COLUMNS, 0) | {
        "rows_read": loaded,
        "rows_loaded": loaded,
    }
    now = datetime(2026, 1, 1, 12, 0, 0)
    uri = f"s3://b/daily_flights/date={day}/{key}"
    return warehouse.RunRecord(run_id, day, uri, counts, 60, now, now)


def load_day(
    job: Job,
    rows: list[tuple],
    run: warehouse.RunRecord,
    before_swap=(),
    connection: str = "warehouse",
    **options: str,
) -> None:
    """What ``delayed_flights.load_day`` does, with ``before_swap`` statements first in the swap
    and ``options`` among the job's arguments."""
    warehouse.load_frame(
        job.context,
        job.context.spark_session.createDataFrame(rows, FACT_SCHEMA),
        warehouse.FACT_TABLE,
        run.run_id,
        lambda stage, settings: [
            *before_swap,
            *warehouse.day_swap(stage, FACT_COLUMNS, run, settings),
        ],
        {"connection_name": connection, "warehouse_database": database(job.url), **options},
    )


def staging_tables(url: str) -> list[tuple]:
    return query(url, "SELECT tablename FROM pg_tables WHERE tablename LIKE '%stage%'")


def test_a_day_load_replaces_the_day_and_records_the_run(job, warehouse_url):
    other = date(2013, 1, 2)
    load_day(job, [fact_row("XX", 99, other)], record("jr_0", 1, other))
    load_day(job, [fact_row("AA", 61), fact_row("AA", 62)], record("jr_1", 2))
    load_day(job, [fact_row("UA", 70)], record("jr_2", 1))
    assert query(
        warehouse_url, "SELECT carrier, flight_date FROM airlines.daily_flights_fact ORDER BY 2"
    ) == [("UA", DAY), ("XX", other)]
    assert query(
        warehouse_url,
        "SELECT run_id, status, rows_loaded, started_at FROM airlines.pipeline_runs ORDER BY 1",
    ) == [
        ("jr_0", "SUCCEEDED", 1, datetime(2026, 1, 1, 12, 0, 0)),
        ("jr_1", "SUCCEEDED", 2, datetime(2026, 1, 1, 12, 0, 0)),
        ("jr_2", "SUCCEEDED", 1, datetime(2026, 1, 1, 12, 0, 0)),
    ]
    assert staging_tables(warehouse_url) == []


def test_a_day_with_no_delayed_flights_empties_the_day(job, warehouse_url):
    load_day(job, [fact_row("AA", 61)], record("jr_1", 1))
    load_day(job, [], record("jr_2", 0))
    assert query(warehouse_url, "SELECT count(*) FROM airlines.daily_flights_fact") == [(0,)]
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs ORDER BY 1") == [
        ("jr_1",),
        ("jr_2",),
    ]


def test_a_failed_write_leaves_the_day_unchanged_and_names_the_step(job, warehouse_url):
    load_day(job, [fact_row("AA", 61)], record("jr_good", 1))
    before = query(warehouse_url, "SELECT * FROM airlines.daily_flights_fact")
    too_long = fact_row("A-CARRIER-NAME-LONGER-THAN-TEN", 70)
    with pytest.raises(warehouse.LoadError, match=r"failed writing the rows into .*value too long"):
        load_day(job, [fact_row("UA", 70), too_long], record("jr_bad", 2))
    assert query(warehouse_url, "SELECT * FROM airlines.daily_flights_fact") == before
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs") == [("jr_good",)]
    assert staging_tables(warehouse_url) == []


def test_a_failed_swap_rolls_back_and_says_what_java_said(job, warehouse_url):
    load_day(job, [fact_row("AA", 61)], record("jr_good", 1))
    with pytest.raises(
        warehouse.LoadError, match=r"failed swapping .*PSQLException.*division by zero"
    ):
        load_day(
            job,
            [fact_row("UA", 70)],
            record("jr_bad", 1),
            before_swap=[
                (f"DELETE FROM {warehouse.FACT_TABLE}", ()),
                ("SELECT 1/0", ()),
            ],
        )
    assert query(warehouse_url, "SELECT carrier FROM airlines.daily_flights_fact") == [("AA",)]
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs") == [("jr_good",)]
    assert staging_tables(warehouse_url) == []


def test_a_load_waits_for_its_lock_only_as_long_as_it_is_told(job, warehouse_url):
    """A reader that keeps the fact table (an open transaction of a SQL client) makes the swap's
    LOCK wait; after ``--lock_wait_seconds`` the load fails saying so, and nothing changed."""
    load_day(job, [fact_row("AA", 61)], record("jr_good", 1))
    reader = psycopg.connect(warehouse_url)
    try:
        reader.execute(f"SELECT count(*) FROM {warehouse.FACT_TABLE}")  # the transaction stays open
        started = time.monotonic()
        with pytest.raises(warehouse.LoadError) as failed:
            load_day(job, [fact_row("UA", 70)], record("jr_blocked", 1), lock_wait_seconds="2")
        waited = time.monotonic() - started
    finally:
        reader.close()
    message = str(failed.value)
    assert message.startswith(
        f"load into {warehouse.FACT_TABLE} failed waiting for the lock on "
        f"{warehouse.FACT_TABLE}, {warehouse.RUNS_TABLE} (--lock_wait_seconds): another session"
    )
    assert "nothing was changed" in message and "statement timeout" in message
    assert 2 <= waited < 60
    assert query(warehouse_url, "SELECT carrier FROM airlines.daily_flights_fact") == [("AA",)]
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs") == [("jr_good",)]
    assert staging_tables(warehouse_url) == []


def test_a_lock_wait_that_is_not_whole_seconds_is_refused(job, warehouse_url):
    with pytest.raises(ValueError, match=r"--lock_wait_seconds '1\.5' is not a whole number"):
        load_day(job, [fact_row("AA", 61)], record("jr", 1), lock_wait_seconds="1.5")
    assert staging_tables(warehouse_url) == []


def test_a_rehearsal_runs_the_whole_load_and_keeps_nothing(job, warehouse_url):
    """``--rehearsal true`` (``make smoke``): staged, written, swapped, then rolled back; the
    day loaded before is as it was, and no run is recorded."""
    load_day(job, [fact_row("AA", 61)], record("jr_good", 1))
    load_day(job, [fact_row("UA", 70)], record("jr_smoke", 1), rehearsal="true")
    assert query(warehouse_url, "SELECT carrier FROM airlines.daily_flights_fact") == [("AA",)]
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs") == [("jr_good",)]
    assert staging_tables(warehouse_url) == []
    with pytest.raises(ValueError, match="--rehearsal 'yes' is neither true nor false"):
        load_day(job, [fact_row("UA", 70)], record("jr_smoke", 1), rehearsal="yes")


def test_a_rehearsal_fails_where_the_load_would(job, warehouse_url):
    with pytest.raises(warehouse.LoadError, match="division by zero"):
        load_day(
            job,
            [fact_row("UA", 70)],
            record("jr_smoke", 1),
            before_swap=[("SELECT 1/0", ())],
            rehearsal="true",
        )
    assert staging_tables(warehouse_url) == []


KEYS_SQL_TEXT_WOULD_MANGLE = [
    "semi;colon.csv",
    "100%s done.csv",
    "50% off %d.csv",
    'it\'s "quoted".csv',
    "two\nlines\r\n.csv",
    "back\\slash.csv",
    "x');DROP TABLE airlines.daily_flights_fact;--.csv",
    "\u00e9t\u00e9 \u2708.csv",
]


@pytest.mark.parametrize("key", KEYS_SQL_TEXT_WOULD_MANGLE)
def test_keys_reach_the_run_table_exactly(job, warehouse_url, key):
    run = record("jr_key", 1, key=key)
    load_day(job, [fact_row("AA", 61)], run)
    assert query(warehouse_url, "SELECT input_object FROM airlines.pipeline_runs") == [
        (run.input_object,)
    ]
    assert query(warehouse_url, "SELECT count(*) FROM airlines.daily_flights_fact") == [(1,)]


def test_a_nul_in_a_key_is_refused_before_anything_is_written(job, warehouse_url):
    with pytest.raises(ValueError, match="NUL character"):
        load_day(job, [fact_row("AA", 61)], record("jr", 1, key="a\x00.csv"))
    assert staging_tables(warehouse_url) == []


def test_loads_wait_for_each_other_on_the_lock(job, warehouse_url):
    """The swap's first statement locks the tables a day load writes: a second load waits until
    the first commits.

    The first load is held in its swap by an advisory lock the test owns."""
    errors: list[BaseException] = []

    def first() -> None:
        try:
            load_day(
                job,
                [fact_row("AA", 61)],
                record("jr_slow", 1),
                before_swap=[
                    (f"LOCK {warehouse.FACT_TABLE}, {warehouse.RUNS_TABLE}", ()),
                    ("SELECT pg_advisory_xact_lock(4242)", ()),
                ],
            )
        except BaseException as error:
            errors.append(error)

    def waiting_on(pattern: str) -> bool:
        return bool(
            query(
                warehouse_url,
                "SELECT 1 FROM pg_stat_activity "
                f"WHERE query LIKE '{pattern}' AND wait_event_type = 'Lock'",
            )
        )

    def wait_until(condition, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    gate = psycopg.connect(warehouse_url, autocommit=True)
    try:
        gate.execute("SELECT pg_advisory_lock(4242)")
        loads = [
            threading.Thread(target=first),
            threading.Thread(
                target=load_day,
                args=(
                    job,
                    [fact_row("UA", 70, date(2013, 1, 2))],
                    record("jr_2", 1, date(2013, 1, 2)),
                ),
            ),
        ]
        loads[0].start()
        wait_until(lambda: waiting_on("SELECT pg_advisory_xact_lock%"), "the first load's gate")
        loads[1].start()
        # The second waits in staging (CREATE TABLE ... LIKE reads the locked fact table).
        wait_until(
            lambda: waiting_on("CREATE TABLE %") or waiting_on("LOCK %"),
            "the second load waiting for the first",
        )
    finally:
        gate.execute("SELECT pg_advisory_unlock(4242)")
        gate.close()
    for load in loads:
        load.join(60)
    assert not errors
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs ORDER BY 1") == [
        ("jr_2",),
        ("jr_slow",),
    ]


def test_the_target_is_the_connections_full_url_on_the_jobs_database(job):
    conf = job.context.extract_jdbc_conf("warehouse")
    assert conf["fullUrl"].endswith("/dev")
    assert urlsplit(conf["url"].removeprefix("jdbc:")).path == ""  # deprecated: no database
    target = warehouse.jdbc_target(conf, "flights")
    assert target.url == conf["fullUrl"].removesuffix("/dev") + "/flights"


def test_settings_without_full_url_are_refused():
    with pytest.raises(warehouse.LoadError, match="no fullUrl"):
        warehouse.jdbc_target({"url": "jdbc:postgresql://h:5432", "user": "u"}, "flights")


def test_a_vendor_the_jobs_cannot_load_is_refused():
    with pytest.raises(warehouse.LoadError, match="'mysql' URL"):
        warehouse.jdbc_target({"fullUrl": "jdbc:mysql://h:3306/x"}, "flights")


def test_a_driver_missing_from_the_class_path_is_named(spark):
    """The local Spark has no Redshift JDBC driver: the error names it and the class path."""
    target = warehouse.JdbcTarget("jdbc:redshift://127.0.0.1:5439/dev", "u", "p")
    with pytest.raises(
        warehouse.LoadError,
        match=r"redshift JDBC driver \(com\.amazon\.redshift\.jdbc\.Driver\) is not on the "
        r"Spark driver's class path: java\.lang\.ClassNotFoundException",
    ):
        warehouse.connect(spark.sparkContext._jvm, target)


def test_a_java_failure_reads_as_the_java_exception_and_its_causes(spark):
    """What a run's ErrorMessage says of a Java exception raised through py4j, in the job's
    own load errors and in the local runner's: Java's class and message, not its stack."""
    from py4j.protocol import Py4JJavaError

    from flightpipe.stack.glue import described

    jvm = spark.sparkContext._jvm
    with pytest.raises(Py4JJavaError) as raised:
        jvm.java.lang.Class.forName("no.such.Driver")
    assert warehouse.java_message(raised.value) == (
        "java.lang.ClassNotFoundException: no.such.Driver"
    )
    assert described(raised.value) == (
        "Py4JJavaError: An error occurred while calling z:java.lang.Class.forName. Caused by: "
        "java.lang.ClassNotFoundException: no.such.Driver"
    )


# --- TLS: the connection's JDBC_ENFORCE_SSL and CUSTOM_JDBC_CERT ------------------------------
# AWS Glue's Connection API: JDBC_ENFORCE_SSL is "SSL with hostname matching ... enforced for
# the JDBC connection on the client"; CUSTOM_JDBC_CERT an S3 location of the root certificate.

ENFORCED = {"JDBC_ENFORCE_SSL": "true", "CUSTOM_JDBC_CERT": "s3://certificates/root.pem"}


def upload_root_certificate(path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="certificates")
    s3.put_object(Bucket="certificates", Key="root.pem", Body=path.read_bytes())


@pytest.fixture
def server_ca(server):
    if server.ca_cert is None:
        pytest.skip("DATABASE_URL's server: set PGSSLROOTCERT to the CA of its certificate")
    return server.ca_cert


def test_an_enforcing_connection_loads_over_verified_tls(job, warehouse_url, server_ca):
    """Both connections of the load, the job's own and the writer's, verify the server against
    the connection's root certificate; the swap records what its connection negotiated."""
    upload_root_certificate(server_ca)
    glue_connection("tls-warehouse", warehouse_url, **ENFORCED)
    execute(warehouse_url, "CREATE TABLE public.tls_seen (ssl boolean, version text)")
    seen = (
        "INSERT INTO public.tls_seen SELECT ssl, version FROM pg_stat_ssl "
        "WHERE pid = pg_backend_pid()"
    )
    load_day(job, [fact_row("AA", 61)], record("jr_tls", 1), [(seen, ())], "tls-warehouse")
    assert query(warehouse_url, "SELECT carrier FROM airlines.daily_flights_fact") == [("AA",)]
    assert query(warehouse_url, "SELECT ssl, version FROM public.tls_seen") == [(True, "TLSv1.3")]
    execute(warehouse_url, "DROP TABLE public.tls_seen")


def test_a_server_certificate_from_another_ca_is_refused(job, warehouse_url, server_ca, tmp_path):
    other = server_tls(tmp_path / "other-ca", ["127.0.0.1", "localhost"])
    upload_root_certificate(other.ca_cert)
    glue_connection("tls-warehouse", warehouse_url, **ENFORCED)
    with pytest.raises(
        warehouse.LoadError, match=r"creating the staging table.*PSQLException.*SSL"
    ):
        load_day(job, [fact_row("AA", 61)], record("jr_tls", 1), connection="tls-warehouse")
    assert query(warehouse_url, "SELECT count(*) FROM airlines.daily_flights_fact") == [(0,)]


def test_a_server_without_tls_is_refused_when_the_connection_enforces_it(job, tmp_path):
    upload_root_certificate(server_tls(tmp_path / "ca", ["127.0.0.1"]).ca_cert)
    with throwaway(tmp_path / "plain", tls=False) as plain:
        glue_connection("tls-warehouse", plain.url, **ENFORCED)
        with pytest.raises(warehouse.LoadError, match=r"does not support SSL"):
            load_day(job, [fact_row("AA", 61)], record("jr_tls", 1), connection="tls-warehouse")


def test_the_writer_verifies_the_server_as_the_jobs_connection_does(
    moto_endpoint, spark, warehouse_url, server_ca, tmp_path
):
    """The local writer (Glue's JDBC writer's stand-in) connects with libpq's verify-full."""
    from flightpipe.gluelocal.jdbc import write_frame

    execute(warehouse_url, "CREATE TABLE public.tls_rows (id BIGINT)")
    upload_root_certificate(server_tls(tmp_path / "other-ca", ["127.0.0.1"]).ca_cert)
    glue_connection("tls-warehouse", warehouse_url, **ENFORCED)
    frame = spark.range(3)
    options = {"dbtable": "public.tls_rows", "database": database(warehouse_url)}
    glue, s3 = boto3.client("glue"), boto3.client("s3")
    with pytest.raises(WarehouseError, match="certificate verify failed"):
        write_frame(frame, glue, s3, "tls-warehouse", options)
    upload_root_certificate(server_ca)
    assert write_frame(frame, glue, s3, "tls-warehouse", options) == 3
    assert query(warehouse_url, "SELECT count(*) FROM public.tls_rows") == [(3,)]
    execute(warehouse_url, "DROP TABLE public.tls_rows")


def test_enforced_ssl_sets_each_drivers_verified_tls_properties():
    conf = {"fullUrl": "jdbc:redshift://cluster.example:5439/dev", "enforceSSL": "true"}
    assert warehouse.jdbc_target(conf, "flights", "/tmp/root.pem").properties == {
        "SSL": "true",
        "SSLMode": "verify-full",
        "SSLRootCert": "/tmp/root.pem",
    }
    conf = {"fullUrl": "jdbc:postgresql://db.example:5432/dev", "enforceSSL": "true"}
    assert warehouse.jdbc_target(conf, "flights").properties == {
        "ssl": "true",
        "sslmode": "verify-full",
        "sslfactory": "org.postgresql.ssl.DefaultJavaSSLFactory",
    }
    assert warehouse.jdbc_target(conf | {"enforceSSL": "false"}, "flights").properties == {}


def test_a_copy_role_goes_to_redshifts_writer_and_is_refused_on_another_connection(job):
    """The connector's ``aws_iam_role`` (AWS Glue's Redshift connection options) makes the COPY
    assume a role attached to the cluster instead of the job's temporary credentials. A
    PostgreSQL connection has no COPY to give it to: the load refuses the role before writing."""
    role = "arn:aws:iam::123456789012:role/redshift-copy"
    redshift = warehouse.jdbc_target({"fullUrl": "jdbc:redshift://c:5439/dev", "user": "u"}, "db")
    assert warehouse.write_options(redshift, "s.t", "db", role) == {
        "dbtable": "s.t",
        "database": "db",
        "aws_iam_role": role,
    }
    assert "aws_iam_role" not in warehouse.write_options(redshift, "s.t", "db", "")
    with pytest.raises(ValueError, match="warehouse_copy_role names the role of Redshift's COPY"):
        warehouse.load_frame(
            job.context,
            job.context.spark_session.createDataFrame([fact_row("AA", 90)], FACT_SCHEMA),
            warehouse.FACT_TABLE,
            "jr_role",
            lambda stage, settings: warehouse.day_swap(stage, FACT_COLUMNS, record("jr_role", 1)),
            {
                "connection_name": "warehouse",
                "warehouse_database": database(job.url),
                warehouse.COPY_ROLE_ARGUMENT: role,
            },
        )
    assert staging_tables(job.url) == []
