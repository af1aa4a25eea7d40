"""The SQL that makes loading one day into the fact table idempotent and atomic.

The Glue job hands these statements to ``write_dynamic_frame.from_jdbc_conf`` as ``preactions``
and ``postactions``: the connector runs preactions, COPYs the day's rows into a staging table,
then runs postactions, in one transaction. The postactions delete whatever the day held,
insert the staged rows, and record the run, so a failure anywhere leaves the day as it was and
a re-run replaces the day rather than adding to it. Glue requires each list on one line,
statements separated by semicolons.

Every value put into SQL here is validated or typed first (dates, integers, a run id pattern,
an S3 key without quotes or backslashes); nothing from outside reaches SQL unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

FACT_TABLE = "airlines.daily_flights_fact"
RUNS_TABLE = "airlines.pipeline_runs"
AIRPORTS_TABLE = "airlines.airports_dim"
AIRPORTS_STAGE = "airlines.airports_dim_stage"
AIRPORT_COLUMNS = ("airport_id", "city", "state", "name")
COUNT_COLUMNS = (
    "rows_read",
    "rows_loaded",
    "rows_below_threshold",
    "rows_missing_delay",
    "rows_quarantined",
    "rows_unmatched_airports",
)
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_UNSAFE_TEXT = re.compile(r"['\\\x00-\x1f]")


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


def stage_table(flight_date: date) -> str:
    """The staging table of one day (one per day, so days load side by side)."""
    return f"{FACT_TABLE}_stage_{flight_date:%Y%m%d}"


def day_preactions(flight_date: date) -> str:
    stage = stage_table(flight_date)
    return f"DROP TABLE IF EXISTS {stage}; CREATE TABLE {stage} (LIKE {FACT_TABLE})"


def day_postactions(flight_date: date, columns: tuple[str, ...], run: RunRecord) -> str:
    stage = stage_table(flight_date)
    listed = ", ".join(columns)
    return "; ".join(
        (
            f"DELETE FROM {FACT_TABLE} WHERE flight_date = {_date(flight_date)}",
            f"INSERT INTO {FACT_TABLE} ({listed}) SELECT {listed} FROM {stage}",
            f"DELETE FROM {RUNS_TABLE} WHERE run_id = {_text(run.run_id, _RUN_ID)}",
            run_insert(run, status="SUCCEEDED"),
            f"DROP TABLE {stage}",
        )
    )


def airports_preactions() -> str:
    stage = AIRPORTS_STAGE
    return f"DROP TABLE IF EXISTS {stage}; CREATE TABLE {stage} (LIKE {AIRPORTS_TABLE})"


def airports_postactions() -> str:
    """Swap the staged dimension in (the rows were checked for duplicate ids before staging)."""
    listed = ", ".join(AIRPORT_COLUMNS)
    return "; ".join(
        (
            f"DELETE FROM {AIRPORTS_TABLE}",
            f"INSERT INTO {AIRPORTS_TABLE} ({listed}) SELECT {listed} FROM {AIRPORTS_STAGE}",
            f"DROP TABLE {AIRPORTS_STAGE}",
        )
    )


def run_insert(run: RunRecord, status: str, error_message: str | None = None) -> str:
    """An INSERT of ``run`` into the run table."""
    missing = [name for name in COUNT_COLUMNS if name not in run.counts]
    if missing:
        raise ValueError(f"run record lacks {', '.join(missing)}")
    columns = (
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
    values = (
        _text(run.run_id, _RUN_ID),
        _date(run.flight_date),
        _text(run.input_object),
        _text(status, re.compile(r"^[A-Z_]{1,16}$")),
        *(str(int(run.counts[name])) for name in COUNT_COLUMNS),
        str(int(run.min_dep_delay)),
        _timestamp(run.started_at),
        _timestamp(run.finished_at),
        "NULL" if error_message is None else _text(error_message[:4096]),
    )
    return f"INSERT INTO {RUNS_TABLE} ({', '.join(columns)}) VALUES ({', '.join(values)})"


def _date(value: date) -> str:
    return f"'{date.fromisoformat(value.isoformat()).isoformat()}'"


def _timestamp(value: datetime) -> str:
    return f"'{value.replace(tzinfo=None).isoformat(sep=' ', timespec='seconds')}'"


def _text(value: str, pattern: re.Pattern[str] | None = None) -> str:
    if pattern is not None and not pattern.match(value):
        raise ValueError(f"refusing to put {value!r} into SQL: it does not match {pattern.pattern}")
    if _UNSAFE_TEXT.search(value):
        raise ValueError(f"refusing to put {value!r} into SQL: quote, backslash or control char")
    return f"'{value}'"
