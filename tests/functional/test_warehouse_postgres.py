"""The warehouse interface against the real local PostgreSQL (loads: test_local_redshift_writer)."""

from __future__ import annotations

import psycopg
import pytest

from flightpipe.warehouse.connections import PostgresWarehouse, WarehouseError


def query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_schema_applies_and_reapplying_changes_nothing(warehouse_url):
    catalog = (
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'airlines' ORDER BY 1, 2"
    )
    before = query(warehouse_url, catalog)
    PostgresWarehouse(warehouse_url).apply_schema()
    assert query(warehouse_url, catalog) == before
    assert {t for t, _, _ in before} == {"airports_dim", "daily_flights_fact", "pipeline_runs"}


def test_a_failing_statement_rolls_the_transaction_back_and_names_the_error(warehouse_url):
    warehouse = PostgresWarehouse(warehouse_url)
    with (
        pytest.raises(WarehouseError, match="division by zero"),
        warehouse.transaction() as session,
    ):
        session.execute("INSERT INTO airlines.airports_dim VALUES (1, 'a', 'b', 'c')")
        session.execute("SELECT 1/0")
    assert query(warehouse_url, "SELECT count(*) FROM airlines.airports_dim") == [(0,)]
