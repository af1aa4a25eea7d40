"""The local runtime's ``from_jdbc_conf`` writer behaves as AWS Glue's writer for the connection.

On a PostgreSQL connection, Glue's JDBC writer inserts the rows into ``dbtable``; AWS documents
``preactions``/``postactions`` for Redshift only (AWS Glue's "Redshift connections" page), so the
local writer refuses them there. On Redshift, the connector's behaviour is pinned here on
``ConnectorLoad`` with PostgreSQL as the database. Source of that behaviour:
spark-redshift-community/spark-redshift, ``Parameters.scala`` at commit
025d78ab1e2af9d3518636a7eb337f174f60e7c3 (``preactions`` and ``postactions`` default to ``";"`` and
are read as ``parameters(...).trim.split(";")``) and ``RedshiftWriter.scala`` at commit
046da8187e9223f61d956ce47ef4916f8feff2a7 (``doRedshiftLoad``: ``CREATE TABLE IF NOT EXISTS``, then
each action, ``action.format(table)`` when it contains ``%s``, the COPY only when there are rows,
the postactions; one transaction). The newline rule is AWS's knowledge-center article
sql-commands-redshift-glue-job. S3 and the Glue connection are moto; the warehouse is the real local
PostgreSQL; the JVM is the local Spark's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import boto3
import psycopg
import pytest

from flightpipe.gluelocal.jdbc import (
    ConnectorError,
    ConnectorLoad,
    connector_statements,
    staged_csv,
    write_frame,
)
from flightpipe.warehouse.connections import PostgresWarehouse

AIRPORTS_SCHEMA = "airport_id BIGINT, city STRING, state STRING, name STRING"


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
        AIRPORTS_SCHEMA,
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


@pytest.mark.parametrize("option", ["preactions", "postactions"])
def test_actions_on_a_postgresql_connection_are_refused_naming_them(write, warehouse_url, option):
    """AWS Glue skips them silently on a connection that is not Redshift: the SQL would never
    run there, so the local writer refuses the write, and writes nothing."""
    with pytest.raises(ConnectorError, match=f"{option} given for a postgresql connection"):
        write(
            [(1, "Kekaha", "HI", "Airport")],
            AIRPORTS_SCHEMA,
            dbtable="airlines.airports_dim",
            **{option: "DELETE FROM airlines.airports_dim"},
        )
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]


def test_a_jdbc_write_matches_columns_by_name(write, warehouse_url):
    """Spark's JDBC writer names the columns it inserts: the frame's order does not matter."""
    write(
        [(1, "HI", "Kekaha", "Airport")],
        "airport_id BIGINT, state STRING, city STRING, name STRING",
        dbtable="airlines.airports_dim",
    )
    assert query(warehouse_url, "SELECT * FROM airlines.airports_dim") == [
        (1, "Kekaha", "HI", "Airport")
    ]


def test_a_frame_column_the_table_lacks_is_refused(write, warehouse_url):
    with pytest.raises(ConnectorError, match=r"column elevation of the frame is not a column"):
        write(
            [(1, "Kekaha", 3)],
            "airport_id BIGINT, city STRING, elevation BIGINT",
            dbtable="airlines.airports_dim",
        )
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]


# --- the Redshift connector's load, with PostgreSQL as the database ---------------------------


@pytest.fixture
def connector_load(spark, warehouse_url):
    """``connector_load(rows, schema, **options)``: ``ConnectorLoad`` as a Redshift connection's
    write runs it, on the local PostgreSQL."""

    def run(rows: list[tuple], schema: str, **options: str) -> int:
        frame = spark.createDataFrame(rows, schema)
        load = ConnectorLoad.from_options(spark.sparkContext, options)
        return load.run(PostgresWarehouse(warehouse_url), frame.schema, staged_csv(frame))

    return run


def test_connector_columns_must_be_the_tables_in_name_and_order(connector_load, warehouse_url):
    with pytest.raises(ConnectorError, match=r"not those of airlines\.airports_dim"):
        connector_load(
            [(1, "Kekaha", "HI", "Airport")],
            "airport_id BIGINT, state STRING, city STRING, name STRING",
            dbtable="airlines.airports_dim",
        )
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]


def test_an_empty_frame_copies_nothing_but_runs_the_actions(connector_load, warehouse_url):
    loaded = connector_load(
        [],
        AIRPORTS_SCHEMA,
        dbtable="airlines.airports_dim",
        postactions="INSERT INTO airlines.airports_dim VALUES (9, 'from', 'the', 'postaction')",
    )
    assert loaded == 0
    assert query(warehouse_url, "SELECT airport_id FROM airlines.airports_dim") == [(9,)]


def test_a_failing_postaction_rolls_everything_back(connector_load, warehouse_url):
    with pytest.raises(Exception, match="division by zero"):
        connector_load(
            [(1, "A", "AA", "One")],
            AIRPORTS_SCHEMA,
            dbtable="airlines.fresh_table",
            preactions="INSERT INTO airlines.airports_dim VALUES (5, 'b', 'c', 'd')",
            postactions="SELECT 1/0",
        )
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]
    assert query(warehouse_url, "SELECT to_regclass('airlines.fresh_table')") == [(None,)]
