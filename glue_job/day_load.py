"""The SQL that makes a load into the warehouse atomic, serialised, and safe from the connector.

The Glue jobs hand these statements to ``write_dynamic_frame.from_jdbc_conf`` as ``preactions``
and ``postactions``. Glue's Redshift writer (the spark-redshift community connector) runs, in
one transaction: ``CREATE TABLE IF NOT EXISTS`` of the staging table, the preactions, a COPY of
the rows into the staging table, the postactions; then it commits.

* **Atomic**: the postactions delete whatever the day held, insert the staged rows and record
  the run, so a failure anywhere leaves the day as it was, and a re-run replaces the day rather
  than adding to it.
* **Serialised**: the first preaction locks the tables the load writes, so two loads never
  interleave in the warehouse (on Redshift, concurrent writers of one table otherwise abort each
  other with a serializable isolation violation, error 1023; AWS's advice is to lock first).
  The lock is exclusive, so readers of those tables wait for a load's commit, as they would for
  Redshift's own commit. Each run stages into a table of its own, named from its run id, so two
  runs never drop or fill each other's staging table.
  Runs of the same day are also serialised end to end, listing included (``flight_io``).
* **Safe from the connector**: the connector splits each option on every ``;`` (quotes are not
  respected), runs ``String.format(statement, table)`` on any statement containing ``%s``, and
  AWS documents that the options must not contain newlines. So no statement here may contain
  ``;``, ``%`` or a line break: text values (an S3 key can hold any of them, and quotes) are
  written as SQL literals in which those characters are ``CHR(n)`` calls, which Redshift and
  PostgreSQL both evaluate to the character. ``actions`` checks the final text before it is
  handed over.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

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
_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_STATUS = re.compile(r"^[A-Z_]{1,16}$")
# Characters the connector or a SQL literal would treat specially: they become CHR(n).
_SPECIAL = re.compile(r"[;%'\\\x00-\x1f\x7f]")
_CONNECTOR_BREAKERS = re.compile(r"[;%\r\n]")
# PostgreSQL cuts identifiers at 63 bytes: daily_flights_fact_stage_<24>_<8> is 58.
_STAGE_RUN_PART = 24


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


def actions(statements: Sequence[str]) -> str:
    """``statements`` as one connector option: ``; ``-separated, refusing any statement the
    connector would split, format or reject (a ``;``, a ``%`` or a line break in it)."""
    for statement in statements:
        found = _CONNECTOR_BREAKERS.search(statement)
        if found:
            raise ValueError(
                f"statement would be mangled by the Redshift connector ({found.group()!r} at "
                f"{found.start()}): {statement[:200]!r}"
            )
    return "; ".join(statements)


def day_preactions(stage: str) -> str:
    return actions(
        (
            f"LOCK {FACT_TABLE}, {RUNS_TABLE}",
            f"DROP TABLE IF EXISTS {stage}",
            f"CREATE TABLE {stage} (LIKE {FACT_TABLE})",
        )
    )


def day_postactions(stage: str, columns: tuple[str, ...], run: RunRecord) -> str:
    listed = ", ".join(columns)
    return actions(
        (
            f"DELETE FROM {FACT_TABLE} WHERE flight_date = {_date(run.flight_date)}",
            f"INSERT INTO {FACT_TABLE} ({listed}) SELECT {listed} FROM {stage}",
            f"DELETE FROM {RUNS_TABLE} WHERE run_id = {text(_checked(run.run_id, _RUN_ID))}",
            run_insert(run, status="SUCCEEDED"),
            f"DROP TABLE {stage}",
        )
    )


def airports_preactions(stage: str) -> str:
    return actions(
        (
            f"LOCK {AIRPORTS_TABLE}",
            f"DROP TABLE IF EXISTS {stage}",
            f"CREATE TABLE {stage} (LIKE {AIRPORTS_TABLE})",
        )
    )


def airports_postactions(stage: str) -> str:
    """Swap the staged dimension in (its rows were checked for duplicate ids before staging)."""
    listed = ", ".join(AIRPORT_COLUMNS)
    return actions(
        (
            f"DELETE FROM {AIRPORTS_TABLE}",
            f"INSERT INTO {AIRPORTS_TABLE} ({listed}) SELECT {listed} FROM {stage}",
            f"DROP TABLE {stage}",
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
        text(_checked(run.run_id, _RUN_ID)),
        _date(run.flight_date),
        text(run.input_object),
        text(_checked(status, _STATUS)),
        *(str(int(run.counts[name])) for name in COUNT_COLUMNS),
        str(int(run.min_dep_delay)),
        _timestamp(run.started_at),
        _timestamp(run.finished_at),
        "NULL" if error_message is None else text(error_message[:4096]),
    )
    return f"INSERT INTO {RUNS_TABLE} ({', '.join(columns)}) VALUES ({', '.join(values)})"


def text(value: str) -> str:
    """``value`` as a SQL string expression holding no ``;``, ``%``, quote, backslash or control
    character: those are spelled ``CHR(n)`` and concatenated, e.g. ``'a' || CHR(59) || 'b'``.

    A NUL cannot be stored in Redshift or PostgreSQL text and is refused.
    """
    if "\x00" in value:
        raise ValueError(f"refusing to put {value!r} into SQL: it holds a NUL character")
    parts: list[str] = []
    literal: list[str] = []
    for char in value:
        if _SPECIAL.match(char):
            if literal:
                parts.append("'" + "".join(literal) + "'")
                literal = []
            parts.append(f"CHR({ord(char)})")
        else:
            literal.append(char)
    if literal or not parts:
        parts.append("'" + "".join(literal) + "'")
    return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"


def _checked(value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(value):
        raise ValueError(f"refusing to put {value!r} into SQL: it does not match {pattern.pattern}")
    return value


def _date(value: date) -> str:
    return f"'{date.fromisoformat(value.isoformat()).isoformat()}'"


def _timestamp(value: datetime) -> str:
    return f"'{value.replace(tzinfo=None).isoformat(sep=' ', timespec='seconds')}'"
