"""The warehouse interface against the real local PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime

import day_load
import psycopg
import pytest
from flight_transforms import FACT_COLUMNS

from flightpipe.warehouse import (
    CsvSource,
    DuplicateAirportIds,
    PostgresWarehouse,
    WarehouseError,
    replace_airports,
)

pytestmark = pytest.mark.functional

DAY = date(2013, 1, 1)


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


def run_record(run_id: str, loaded: int) -> day_load.RunRecord:
    counts = dict.fromkeys(day_load.COUNT_COLUMNS, 0) | {"rows_read": loaded, "rows_loaded": loaded}
    now = datetime(2026, 1, 1, 12, 0, 0)
    return day_load.RunRecord(
        run_id, DAY, "s3://b/daily_flights/date=2013-01-01/flights.csv", counts, 60, now, now
    )


def load_day(warehouse, rows, tmp_path, run_id="run-1", day=DAY):
    return warehouse.load(
        day_load.stage_table(day),
        FACT_COLUMNS,
        CsvSource.from_rows(rows, tmp_path),
        preactions=day_load.day_preactions(day).split("; "),
        postactions=day_load.day_postactions(
            day, FACT_COLUMNS, run_record(run_id, len(rows))
        ).split("; "),
    )


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


def test_copy_load_streams_rows_with_nulls_and_commas(warehouse_url, tmp_path):
    rows = [(1, "Kekaha, Kauai", "HI", 'The "Sands"'), (2, None, None, "Nowhere")]
    loaded = replace_airports(PostgresWarehouse(warehouse_url), CsvSource.from_rows(rows, tmp_path))
    assert loaded == 2
    assert query(warehouse_url, "SELECT * FROM airlines.airports_dim ORDER BY 1") == rows


def test_day_load_replaces_the_day_and_records_the_run(warehouse_url, tmp_path):
    warehouse = PostgresWarehouse(warehouse_url)
    other_day = date(2013, 1, 2)
    load_day(warehouse, [fact_row("XX", 99, other_day)], tmp_path, "run-0", other_day)
    load_day(warehouse, [fact_row("AA", 61), fact_row("AA", 62)], tmp_path, "run-1")
    load_day(warehouse, [fact_row("UA", 70)], tmp_path, "run-2")
    assert query(
        warehouse_url, "SELECT carrier, flight_date FROM airlines.daily_flights_fact ORDER BY 2"
    ) == [("UA", DAY), ("XX", other_day)]
    assert query(
        warehouse_url, "SELECT run_id, status, rows_loaded FROM airlines.pipeline_runs ORDER BY 1"
    ) == [("run-0", "SUCCEEDED", 1), ("run-1", "SUCCEEDED", 2), ("run-2", "SUCCEEDED", 1)]
    assert query(
        warehouse_url, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%stage%'"
    ) == [(0,)]


def test_failed_day_load_leaves_the_previous_day_untouched(warehouse_url, tmp_path):
    warehouse = PostgresWarehouse(warehouse_url)
    load_day(warehouse, [fact_row("AA", 61)], tmp_path, "run-1")
    bad = [
        fact_row("UA", 70),
        ("UA", 1, 2, None, None, None, None, None, None, "not-a-number", 0, DAY),
    ]
    with pytest.raises(WarehouseError, match="invalid input syntax for type bigint"):
        load_day(warehouse, bad, tmp_path, "run-2")
    assert query(warehouse_url, "SELECT carrier FROM airlines.daily_flights_fact") == [("AA",)]
    assert query(warehouse_url, "SELECT run_id FROM airlines.pipeline_runs") == [("run-1",)]


def test_failure_in_postactions_rolls_back_the_copy(warehouse_url, tmp_path):
    warehouse = PostgresWarehouse(warehouse_url)
    load_day(warehouse, [fact_row("AA", 61)], tmp_path, "run-1")
    with pytest.raises(WarehouseError):
        warehouse.load(
            day_load.stage_table(DAY),
            FACT_COLUMNS,
            CsvSource.from_rows([fact_row("UA", 70)], tmp_path),
            preactions=day_load.day_preactions(DAY).split("; "),
            postactions=[
                f"DELETE FROM airlines.daily_flights_fact WHERE flight_date = '{DAY}'",
                "SELECT 1/0",
            ],
        )
    assert query(warehouse_url, "SELECT carrier FROM airlines.daily_flights_fact") == [("AA",)]


def test_duplicate_airport_ids_are_rejected_and_the_dimension_kept(warehouse_url, tmp_path):
    warehouse = PostgresWarehouse(warehouse_url)
    replace_airports(warehouse, CsvSource.from_rows([(1, "A", "AA", "One")], tmp_path))
    duplicated = [
        (5, "B", "BB", "Five"),
        (7, "C", "CC", "Seven"),
        (5, "D", "DD", "Cinq"),
        (7, "E", "EE", "Sept"),
    ]
    with pytest.raises(DuplicateAirportIds, match="duplicate airport_id 5, 7") as raised:
        replace_airports(warehouse, CsvSource.from_rows(duplicated, tmp_path))
    assert raised.value.ids == [5, 7]
    assert query(warehouse_url, "SELECT airport_id, name FROM airlines.airports_dim") == [
        (1, "One")
    ]
