"""The local runtime's ``from_jdbc_conf`` writer behaves as AWS Glue's Redshift writer does.

Source of the behaviour pinned here: spark-redshift-community/spark-redshift,
``Parameters.scala`` at commit 025d78ab1e2af9d3518636a7eb337f174f60e7c3 (``preactions`` and
``postactions`` default to ``";"`` and are read as ``parameters(...).trim.split(";")``) and
``RedshiftWriter.scala`` at commit 046da8187e9223f61d956ce47ef4916f8feff2a7 (``doRedshiftLoad``:
``CREATE TABLE IF NOT EXISTS``, then each action, ``action.format(table)`` when it contains
``%s``, the COPY only when there are rows, the postactions; one transaction). The newline rule
is AWS's knowledge-center article sql-commands-redshift-glue-job. S3 and the Glue connection
are moto; the warehouse is the real local PostgreSQL; the JVM is the local Spark's.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from urllib.parse import urlsplit

import boto3
import day_load
import psycopg
import pytest
from flight_transforms import FACT_COLUMNS

from flightpipe.gluelocal.jdbc import ConnectorError, connector_statements, write_frame

pytestmark = pytest.mark.functional

DAY = date(2013, 1, 1)
FACT_SCHEMA = (
    "carrier STRING, dep_airport_id BIGINT, arr_airport_id BIGINT, dep_airport STRING, "
    "arr_airport STRING, dep_city STRING, arr_city STRING, dep_state STRING, arr_state STRING, "
    "dep_delay BIGINT, arr_delay BIGINT, flight_date DATE"
)


@pytest.fixture
def write(moto, warehouse_url, spark):
    """``write(rows, schema, **connection_options)`` through the local writer."""
    glue = boto3.client("glue")
    parts = urlsplit(warehouse_url)
    glue.create_connection(
        ConnectionInput={
            "Name": "warehouse",
            "ConnectionType": "JDBC",
            "ConnectionProperties": {
                "JDBC_CONNECTION_URL": f"jdbc:postgresql://{parts.hostname}:{parts.port}"
                f"{parts.path}",
                "USERNAME": parts.username or "",
            },
        }
    )

    def run(rows: list[tuple], schema: str, **options: str) -> int:
        frame = spark.createDataFrame(rows, schema)
        return write_frame(frame, glue, boto3.client("s3"), "warehouse", options)

    return run


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def statements(spark, value: str | None, table: str = "airlines.t") -> tuple[str, ...]:
    options = {} if value is None else {"postactions": value}
    return connector_statements(spark.sparkContext, options, "postactions", table)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),  # the default, ";", is no statement at all
        ("a; b ;", ("a", " b ")),  # trimmed, then split; trailing empty pieces dropped
        ("  a  ", ("a",)),
        # quotes are not respected: a literal holding ";" is cut in two
        ("INSERT INTO t VALUES ('a;b')", ("INSERT INTO t VALUES ('a", "b')")),
        ("GRANT SELECT ON %s TO PUBLIC", ("GRANT SELECT ON airlines.t TO PUBLIC",)),
        ("SELECT 7 % 2", ("SELECT 7 % 2",)),  # formatted only when it contains %s
    ],
)
def test_actions_are_split_and_formatted_by_java_as_the_connector_does(spark, value, expected):
    assert statements(spark, value) == expected


@pytest.mark.parametrize(
    ("value", "java_error"),
    [
        ("SELECT '%s%'", "java.util.UnknownFormatConversionException"),
        ("SELECT '%d', '%s'", "java.util.IllegalFormatConversionException"),
    ],
)
def test_a_statement_java_cannot_format_fails_with_javas_error(spark, value, java_error):
    with pytest.raises(ConnectorError, match=java_error):
        statements(spark, value)


@pytest.mark.parametrize("value", ["SELECT 1\nFROM t", "SELECT 1;\r\nSELECT 2"])
def test_line_breaks_are_refused(spark, value):
    with pytest.raises(ConnectorError, match="line break"):
        statements(spark, value)


@pytest.mark.parametrize("value", ["a;;b", "; a", ""])
def test_empty_statements_are_refused(spark, value):
    with pytest.raises(ConnectorError, match="is empty"):
        statements(spark, value)


def test_values_load_exactly_with_quotes_commas_blanks_and_nulls(write, warehouse_url):
    rows = [(1, "Kekaha, Kauai", " HI ", 'The "Sands"'), (2, None, "", "Nowhere")]
    loaded = write(
        rows,
        "airport_id BIGINT, city STRING, state STRING, name STRING",
        dbtable="airlines.airports_dim",
    )
    assert loaded == 2
    assert query(warehouse_url, "SELECT * FROM airlines.airports_dim ORDER BY 1") == rows


def test_the_connector_creates_a_missing_table_from_the_frame(write, warehouse_url):
    write([(1, "x")], "id BIGINT, label STRING", dbtable="airlines.created_by_the_writer")
    assert query(
        warehouse_url,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'created_by_the_writer' ORDER BY ordinal_position",
    ) == [("id", "bigint"), ("label", "text")]


def test_columns_must_be_the_tables_in_name_and_order(write, warehouse_url):
    with pytest.raises(ConnectorError, match=r"not those of airlines\.airports_dim"):
        write(
            [(1, "Kekaha", "HI", "Airport")],
            "airport_id BIGINT, state STRING, city STRING, name STRING",
            dbtable="airlines.airports_dim",
        )
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]


def test_an_empty_frame_copies_nothing_but_runs_the_actions(write, warehouse_url):
    loaded = write(
        [],
        "airport_id BIGINT, city STRING, state STRING, name STRING",
        dbtable="airlines.airports_dim",
        postactions="INSERT INTO airlines.airports_dim VALUES (9, 'from', 'the', 'postaction')",
    )
    assert loaded == 0
    assert query(warehouse_url, "SELECT airport_id FROM airlines.airports_dim") == [(9,)]


def test_a_failing_postaction_rolls_everything_back(write, warehouse_url):
    with pytest.raises(Exception, match="division by zero"):
        write(
            [(1, "A", "AA", "One")],
            "airport_id BIGINT, city STRING, state STRING, name STRING",
            dbtable="airlines.fresh_table",
            preactions="INSERT INTO airlines.airports_dim VALUES (5, 'b', 'c', 'd')",
            postactions="SELECT 1/0",
        )
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]
    assert query(warehouse_url, "SELECT to_regclass('airlines.fresh_table')") == [(None,)]


# --- the day load's SQL through the writer ----------------------------------------------------


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
) -> day_load.RunRecord:
    counts = dict.fromkeys(day_load.COUNT_COLUMNS, 0) | {"rows_read": loaded, "rows_loaded": loaded}
    now = datetime(2026, 1, 1, 12, 0, 0)
    uri = f"s3://b/daily_flights/date={day}/{key}"
    return day_load.RunRecord(run_id, day, uri, counts, 60, now, now)


def load_day(write, rows: list[tuple], run: day_load.RunRecord) -> int:
    stage = day_load.stage_table(day_load.FACT_TABLE, run.run_id)
    return write(
        rows,
        FACT_SCHEMA,
        dbtable=stage,
        preactions=day_load.day_preactions(stage),
        postactions=day_load.day_postactions(stage, FACT_COLUMNS, run),
    )


def test_a_day_load_replaces_the_day_and_records_the_run(write, warehouse_url):
    other = date(2013, 1, 2)
    load_day(write, [fact_row("XX", 99, other)], record("jr_0", 1, other))
    load_day(write, [fact_row("AA", 61), fact_row("AA", 62)], record("jr_1", 2))
    load_day(write, [fact_row("UA", 70)], record("jr_2", 1))
    assert query(
        warehouse_url, "SELECT carrier, flight_date FROM airlines.daily_flights_fact ORDER BY 2"
    ) == [("UA", DAY), ("XX", other)]
    assert query(
        warehouse_url, "SELECT run_id, status, rows_loaded FROM airlines.pipeline_runs ORDER BY 1"
    ) == [("jr_0", "SUCCEEDED", 1), ("jr_1", "SUCCEEDED", 2), ("jr_2", "SUCCEEDED", 1)]
    assert query(
        warehouse_url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%stage%'"
    ) == [(0,)]


def test_a_failed_day_load_leaves_the_loaded_day_unchanged(write, warehouse_url):
    load_day(write, [fact_row("AA", 61)], record("jr_good", 1))
    before = query(warehouse_url, "SELECT * FROM airlines.daily_flights_fact")
    too_long = fact_row("A-CARRIER-NAME-LONGER-THAN-TEN", 70)
    with pytest.raises(Exception, match="value too long"):
        load_day(write, [fact_row("UA", 70), too_long], record("jr_bad", 2))
    assert query(warehouse_url, "SELECT * FROM airlines.daily_flights_fact") == before
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs") == [("jr_good",)]


KEYS_THE_CONNECTOR_WOULD_MANGLE = [
    "semi;colon.csv",
    "100%s done.csv",
    "50% off %d.csv",
    'it\'s "quoted".csv',
    "two\nlines\r\n.csv",
    "back\\slash.csv",
    "\u00e9t\u00e9 \u2708.csv",
]


@pytest.mark.parametrize("key", KEYS_THE_CONNECTOR_WOULD_MANGLE)
def test_keys_reach_the_run_table_exactly(write, warehouse_url, key):
    run = record("jr_key", 1, key=key)
    load_day(write, [fact_row("AA", 61)], run)
    assert query(warehouse_url, "SELECT input_object FROM airlines.pipeline_runs") == [
        (run.input_object,)
    ]


@pytest.mark.parametrize("key", ["semi;colon.csv", "100%s done.csv", "5%s off %d.csv"])
def test_the_same_keys_written_as_plain_literals_would_be_mangled(spark, key):
    """What the escaping protects against: the connector cuts or formats a plain literal."""
    plain = f"INSERT INTO airlines.pipeline_runs (input_object) VALUES ('{key}')"
    try:
        ran = statements(spark, plain)
    except ConnectorError:
        return
    assert ran != (plain,)


def test_loads_wait_for_each_other_on_the_lock(write, warehouse_url):
    """The first preaction locks the tables a day load writes: a second load waits for it.

    The first load is held in its postactions by an advisory lock the test owns."""
    slow = record("jr_slow", 1)
    stage = day_load.stage_table(day_load.FACT_TABLE, slow.run_id)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            write(
                [fact_row("AA", 61)],
                FACT_SCHEMA,
                dbtable=stage,
                preactions=day_load.day_preactions(stage),
                postactions="SELECT pg_advisory_xact_lock(4242); "
                + day_load.day_postactions(stage, FACT_COLUMNS, slow),
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
                args=(write, [fact_row("UA", 70, date(2013, 1, 2))], record("jr_2", 1)),
            ),
        ]
        loads[0].start()
        wait_until(lambda: waiting_on("SELECT pg_advisory_xact_lock%"), "the first load's gate")
        loads[1].start()
        wait_until(lambda: waiting_on("LOCK %"), "the second load waiting for the first")
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
