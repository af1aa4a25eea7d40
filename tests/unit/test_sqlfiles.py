"""The Redshift -> PostgreSQL translation of sql/, without a database."""

from __future__ import annotations

import pytest

from flightpipe.warehouse.sqlfiles import SqlTranslationError, sql_files, to_postgres


def test_files_are_numbered_one_object_each():
    files = sql_files()
    assert [f.order for f in files] == sorted({f.order for f in files})
    for ddl in files:
        assert ddl.redshift.lstrip().startswith("--"), f"{ddl.path.name} lacks a purpose header"
        assert ddl.redshift.count(";") == 1, f"{ddl.path.name} holds more than one statement"


def test_layout_clauses_are_removed_and_nothing_else():
    sql = (
        "CREATE TABLE IF NOT EXISTS s.t (a VARCHAR(10) NOT NULL ENCODE zstd, b BIGINT ENCODE az64,"
        " d DATE) DISTSTYLE KEY DISTKEY (a) COMPOUND SORTKEY (d, a) BACKUP NO;"
    )
    assert to_postgres(sql) == (
        "CREATE TABLE IF NOT EXISTS s.t (a VARCHAR(10) NOT NULL, b BIGINT, d DATE);"
    )


def test_fact_table_keeps_redshift_layout_in_the_source():
    fact = next(f for f in sql_files() if "daily_flights_fact" in f.path.name)
    assert "SORTKEY" in fact.redshift and "DISTSTYLE" in fact.redshift
    assert "SORTKEY" not in fact.postgres and "DISTSTYLE" not in fact.postgres


def test_badly_named_file_is_refused(tmp_path):
    (tmp_path / "schema.sql").write_text("CREATE SCHEMA x;")
    with pytest.raises(SqlTranslationError, match="NNN_"):
        sql_files(tmp_path)
