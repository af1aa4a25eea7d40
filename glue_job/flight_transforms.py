"""Pure DataFrame -> DataFrame transforms of the delayed-flights Glue job.

No ``awsglue`` import and no I/O: the job script reads and writes, these functions decide. They
run on any SparkSession, the same on AWS Glue 5.0 and locally, and are tested on tiny inline
frames.

The input is text lines, not a CSV reader's guess at them. A reader (Spark's or Glue's
DynamicFrame) fills a short row with nulls, merges or splits fields on a stray quote, and loses
the line number and raw text; a cancelled flight (empty delay) and a truncated line would look
the same. Parsing lines here keeps every row accountable: each data line ends up loaded, below
the threshold, missing its delay, or quarantined with its line number, reason and raw text.

Policy:
* columns are found by header name (case, surrounding blanks, quotes and a byte-order mark
  ignored), never by position; unknown columns are ignored; a missing required column fails;
* numbers may be written ``-3``, ``-3.00`` or ``+3``; a delay or id must be a whole number;
* an empty field or ``NA`` is a missing value; a missing departure delay is a cancelled flight,
  not a delayed one; a missing arrival delay (diverted flight) still loads, as NULL;
* a row with the wrong number of fields, an unbalanced quote, a missing carrier or airport id,
  or a non-numeric value is quarantined; a trailing comma on a row is tolerated;
* blank lines carry no data and are skipped;
* a row whose airport is missing from the dimension still loads, with NULL names, and is counted.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

BOM = "\ufeff"
DEFAULT_MIN_DEP_DELAY = 60
CARRIER_MAX_LENGTH = 10

# Lowercased header name -> the name users see in the file (for messages).
FLIGHT_COLUMNS: Mapping[str, str] = {
    "carrier": "Carrier",
    "originairportid": "OriginAirportID",
    "destairportid": "DestAirportID",
    "depdelay": "DepDelay",
    "arrdelay": "ArrDelay",
}
AIRPORT_COLUMNS: Mapping[str, str] = {
    "airport_id": "airport_id",
    "city": "city",
    "state": "state",
    "name": "name",
}
FACT_COLUMNS = (
    "carrier",
    "dep_airport_id",
    "arr_airport_id",
    "dep_airport",
    "arr_airport",
    "dep_city",
    "arr_city",
    "dep_state",
    "arr_state",
    "dep_delay",
    "arr_delay",
    "flight_date",
)
QUARANTINE_COLUMNS = ("source", "line_number", "reason", "raw")

_QUOTED = r'"(?:[^"]|"")*"'
_WHOLE_NUMBER = r"^[+-]?[0-9]{1,18}(\.0+)?$"
_DECIMAL = r"^[+-]?[0-9]+(\.[0-9]+)?$"
_AIRPORT_ID = r"^\+?[0-9]{1,18}(\.0+)?$"


class InputFileError(ValueError):
    """An input file cannot be read at all (no header, missing column, bad dimension)."""


@dataclass(frozen=True)
class Layout:
    """Where each wanted column sits in one file, from that file's own header line."""

    source: str
    header: tuple[str, ...]
    positions: Mapping[str, int]

    @property
    def field_count(self) -> int:
        return len(self.header)


def header_names(header_line: str) -> tuple[str, ...]:
    """Normalised column names of a header line: BOM, quotes, blanks and case removed."""
    text = header_line.removeprefix(BOM)
    fields = next(csv.reader([text]), [])
    return tuple(field.strip().lower() for field in fields)


def layout_for(source: str, header_line: str | None, wanted: Mapping[str, str]) -> Layout:
    """The layout of ``source`` given its first line; InputFileError if unusable."""
    if header_line is None or not header_line.strip(BOM + " \t\r\n"):
        raise InputFileError(f"{source}: empty file, no header line")
    header = header_names(header_line)
    missing = [shown for name, shown in wanted.items() if name not in header]
    if missing:
        raise InputFileError(
            f"{source}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (header has: {', '.join(header) or 'nothing'})"
        )
    duplicated = sorted({name for name in header if name in wanted and header.count(name) > 1})
    if duplicated:
        raise InputFileError(f"{source}: column {', '.join(duplicated)} appears more than once")
    return Layout(source, header, {name: header.index(name) for name in wanted})


def split_lines(files: DataFrame) -> DataFrame:
    """(source, content) -> (source, line_number, text), one row per non-blank line.

    Lines end at LF, CRLF or CR; numbering starts at 1 and counts blank lines.
    """
    exploded = files.select(
        "source",
        F.posexplode(F.split(F.col("content"), "\r\n|\n|\r")).alias("index", "text"),
    )
    return exploded.select(
        "source",
        (F.col("index") + 1).cast("long").alias("line_number"),
        F.col("text"),
    ).where(F.trim(F.col("text")) != "")


def first_lines(lines: DataFrame) -> dict[str, str]:
    """Each source's first non-blank line (its header), collected to the driver."""
    firsts = lines.groupBy("source").agg(F.min_by("text", "line_number").alias("text"))
    return {row.source: row.text for row in firsts.collect()}


def data_lines(lines: DataFrame) -> DataFrame:
    """The lines after each file's header line."""
    first = lines.groupBy("source").agg(F.min("line_number").alias("header_line"))
    return (
        lines.join(F.broadcast(first), "source")
        .where(F.col("line_number") > F.col("header_line"))
        .drop("header_line")
    )


def _field_count(text: Column) -> Column:
    unquoted = F.regexp_replace(text, _QUOTED, "")
    return F.length(unquoted) - F.length(F.regexp_replace(unquoted, ",", "")) + 1


def _fields(lines: DataFrame, layouts: Sequence[Layout], wanted: Mapping[str, str]) -> DataFrame:
    """Add one string column per wanted name, plus ``field_count`` and ``expected_fields``."""
    width = max(layout.field_count for layout in layouts) + 1
    schema = ", ".join(f"f{i} STRING" for i in range(width))
    parsed = lines.withColumn("_f", F.from_csv(F.col("text"), schema, {"mode": "PERMISSIVE"}))

    def by_source(values: Mapping[str, Column]) -> Column:
        choice = None
        for layout in layouts:
            value = values[layout.source]
            choice = (
                F.when(F.col("source") == layout.source, value)
                if choice is None
                else choice.when(F.col("source") == layout.source, value)
            )
        assert choice is not None
        return choice

    columns = {
        name: by_source({lay.source: F.col(f"_f.f{lay.positions[name]}") for lay in layouts}).alias(
            name
        )
        for name in wanted
    }
    expected = by_source({lay.source: F.lit(lay.field_count) for lay in layouts})
    return parsed.select(
        "source",
        "line_number",
        F.col("text").alias("raw"),
        *columns.values(),
        _field_count(F.col("text")).alias("field_count"),
        expected.alias("expected_fields"),
    )


def _missing(value: Column) -> Column:
    trimmed = F.trim(value)
    return value.isNull() | (trimmed == "") | (F.upper(trimmed) == "NA")


def _whole(value: Column) -> Column:
    return F.regexp_extract(F.trim(value), r"^([+-]?[0-9]+)", 1).cast("long")


def _number_problem(value: Column, shown: str) -> Column:
    """Why a present numeric field cannot be a whole number, or NULL if it can."""
    trimmed = F.trim(value)
    return (
        F.when(_missing(value), F.lit(None))
        .when(trimmed.rlike(_WHOLE_NUMBER), F.lit(None))
        .when(
            trimmed.rlike(_DECIMAL),
            F.format_string(f"{shown} '%s' is not a whole number of minutes", trimmed),
        )
        .otherwise(F.format_string(f"{shown} '%s' is not a number", trimmed))
    )


def _id_problem(value: Column, shown: str) -> Column:
    trimmed = F.trim(value)
    return (
        F.when(_missing(value), F.lit(f"{shown} is missing"))
        .when(trimmed.rlike(_AIRPORT_ID), F.lit(None))
        .otherwise(F.format_string(f"{shown} '%s' is not an airport id", trimmed))
    )


def _shape_problem() -> Column:
    count, expected = F.col("field_count"), F.col("expected_fields")
    trailing_comma = (count == expected + 1) & F.col("raw").rlike(r",\s*$")
    odd_quotes = (
        F.length(F.col("raw")) - F.length(F.regexp_replace(F.col("raw"), '"', ""))
    ) % 2 == 1
    return F.when(odd_quotes, F.lit("unbalanced quote")).when(
        (count != expected) & ~trailing_comma,
        F.format_string("%d fields, the header has %d", count, expected),
    )


def parse_flights(lines: DataFrame, layouts: Sequence[Layout]) -> DataFrame:
    """Data lines -> one row per line: typed values, or a quarantine ``reason``.

    Columns: source, line_number, raw, carrier, origin_id, dest_id, dep_delay, arr_delay,
    reason (NULL for a good row). Typed values are NULL on quarantined rows.
    """
    fields = _fields(lines, layouts, FLIGHT_COLUMNS)
    carrier = F.trim(F.col("carrier"))
    reason = F.coalesce(
        _shape_problem(),
        F.when(_missing(F.col("carrier")), F.lit("Carrier is missing")),
        F.when(
            F.length(carrier) > CARRIER_MAX_LENGTH,
            F.format_string(f"Carrier '%s' is longer than {CARRIER_MAX_LENGTH}", carrier),
        ),
        _id_problem(F.col("originairportid"), "OriginAirportID"),
        _id_problem(F.col("destairportid"), "DestAirportID"),
        _number_problem(F.col("depdelay"), "DepDelay"),
        _number_problem(F.col("arrdelay"), "ArrDelay"),
    )
    good = reason.isNull()

    def typed(value: Column) -> Column:
        return F.when(good & ~_missing(value), _whole(value))

    return fields.select(
        "source",
        "line_number",
        "raw",
        F.when(good, carrier).alias("carrier"),
        typed(F.col("originairportid")).alias("origin_id"),
        typed(F.col("destairportid")).alias("dest_id"),
        typed(F.col("depdelay")).alias("dep_delay"),
        typed(F.col("arrdelay")).alias("arr_delay"),
        reason.alias("reason"),
    )


def quarantined(parsed: DataFrame) -> DataFrame:
    """The rows that could not be parsed: source, line_number, reason, raw."""
    return parsed.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)


def delayed(parsed: DataFrame, min_dep_delay: int = DEFAULT_MIN_DEP_DELAY) -> DataFrame:
    """Good rows whose departure delay is at least ``min_dep_delay`` minutes."""
    return parsed.where(
        F.col("reason").isNull() & (F.col("dep_delay") >= F.lit(min_dep_delay))
    ).select("carrier", "origin_id", "dest_id", "dep_delay", "arr_delay")


def outcome_counts(parsed: DataFrame, min_dep_delay: int = DEFAULT_MIN_DEP_DELAY) -> DataFrame:
    """One row: rows_read, rows_delayed, rows_below_threshold, rows_missing_delay, rows_quarantined.

    rows_read = rows_delayed + rows_below_threshold + rows_missing_delay + rows_quarantined.
    """
    good = F.col("reason").isNull()
    dep = F.col("dep_delay")

    def count_where(condition: Column) -> Column:
        return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("long")

    return parsed.agg(
        F.count(F.lit(1)).cast("long").alias("rows_read"),
        count_where(good & (dep >= min_dep_delay)).alias("rows_delayed"),
        count_where(good & (dep < min_dep_delay)).alias("rows_below_threshold"),
        count_where(good & dep.isNull()).alias("rows_missing_delay"),
        count_where(~good).alias("rows_quarantined"),
    )


def parse_airports(lines: DataFrame, layouts: Sequence[Layout]) -> DataFrame:
    """Dimension data lines -> airport_id, city, state, name, plus ``reason`` for bad rows."""
    fields = _fields(lines, layouts, AIRPORT_COLUMNS)

    def text(name: str) -> Column:
        value = F.trim(F.col(name))
        return F.when(value != "", value)

    reason = F.coalesce(
        _shape_problem(),
        _id_problem(F.col("airport_id"), "airport_id"),
        F.when(text("name").isNull(), F.lit("name is missing")),
    )
    return fields.select(
        "line_number",
        "raw",
        F.when(reason.isNull(), _whole(F.col("airport_id"))).alias("airport_id"),
        text("city").alias("city"),
        text("state").alias("state"),
        text("name").alias("name"),
        reason.alias("reason"),
    )


def dimension_problems(airports: DataFrame, limit: int = 20) -> list[str]:
    """Why a parsed dimension cannot be used (bad rows, duplicate ids); empty if it can.

    This collects a bounded number of rows to the driver: it is a check, not a transform.
    """
    bad = airports.where(F.col("reason").isNotNull()).orderBy("line_number").limit(limit).collect()
    problems = [f"line {row.line_number}: {row.reason}: {row.raw}" for row in bad]
    duplicates = (
        airports.where(F.col("reason").isNull())
        .groupBy("airport_id")
        .count()
        .where(F.col("count") > 1)
        .orderBy("airport_id")
        .limit(limit)
        .collect()
    )
    if duplicates:
        ids = ", ".join(str(row.airport_id) for row in duplicates)
        problems.append(f"duplicate airport_id {ids}")
    return problems


def enrich(flights: DataFrame, airports: DataFrame, flight_date: date) -> DataFrame:
    """Delayed flights joined to the dimension twice (departure, arrival), as left joins."""
    dims = airports.where(F.col("reason").isNull()).select("airport_id", "city", "state", "name")

    def side(prefix: str) -> DataFrame:
        return F.broadcast(
            dims.select(
                F.col("airport_id").alias(f"{prefix}_airport_id"),
                F.col("name").alias(f"{prefix}_airport"),
                F.col("city").alias(f"{prefix}_city"),
                F.col("state").alias(f"{prefix}_state"),
            )
        )

    joined = (
        flights.withColumnRenamed("origin_id", "dep_airport_id")
        .withColumnRenamed("dest_id", "arr_airport_id")
        .join(side("dep"), "dep_airport_id", "left")
        .join(side("arr"), "arr_airport_id", "left")
        .withColumn("flight_date", F.lit(flight_date).cast("date"))
    )
    return joined.select(*FACT_COLUMNS)


def unmatched_airports(fact: DataFrame) -> DataFrame:
    """Fact rows whose departure or arrival airport is missing from the dimension."""
    return fact.where(F.col("dep_airport").isNull() | F.col("arr_airport").isNull())
