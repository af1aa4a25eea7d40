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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
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
_LINE = re.compile(r"([^\r\n]*)(\r\n|\n|\r|$)")


class InputFileError(ValueError):
    """An input file cannot be read at all (no header, missing column, bad dimension)."""


@dataclass(frozen=True)
class Layout:
    """Where each wanted column sits in one file, from that file's own header line."""

    source: str
    header_line_number: int
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


def header_line(content: str) -> tuple[int, str] | None:
    """(line number, text) of the first non-blank line, the header; None for a blank file."""
    for number, match in enumerate(_LINE.finditer(content), start=1):
        line = match.group(1)
        if line.strip(BOM + " \t"):
            return number, line
        if not match.group(2):
            break
    return None


def layout_for(source: str, content: str, wanted: Mapping[str, str]) -> Layout:
    """The layout of ``source`` from its header line; InputFileError if it has none usable."""
    found = header_line(content)
    if found is None:
        raise InputFileError(f"{source}: empty file, no header line")
    number, line = found
    header = header_names(line)
    missing = [shown for name, shown in wanted.items() if name not in header]
    if missing:
        raise InputFileError(
            f"{source}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (header has: {', '.join(header) or 'nothing'})"
        )
    duplicated = sorted({name for name in header if name in wanted and header.count(name) > 1})
    if duplicated:
        raise InputFileError(f"{source}: column {', '.join(duplicated)} appears more than once")
    return Layout(source, number, header, {name: header.index(name) for name in wanted})


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


def data_lines(lines: DataFrame, layouts: Sequence[Layout]) -> DataFrame:
    """The lines after each file's header line."""
    after_header = None
    for layout in layouts:
        this = (F.col("source") == layout.source) & (
            F.col("line_number") > layout.header_line_number
        )
        after_header = this if after_header is None else after_header | this
    if after_header is None:
        return lines.limit(0)
    return lines.where(after_header)


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
    return parsed.agg(
        F.count(F.lit(1)).cast("long").alias("rows_read"),
        _count_where(good & (dep >= min_dep_delay)).alias("rows_delayed"),
        _count_where(good & (dep < min_dep_delay)).alias("rows_below_threshold"),
        _count_where(good & dep.isNull()).alias("rows_missing_delay"),
        _count_where(~good).alias("rows_quarantined"),
    )


def fact_counts(fact: DataFrame) -> DataFrame:
    """One row: rows_loaded, rows_unmatched_airports (departure or arrival not in the dimension)."""
    unmatched = F.col("dep_airport").isNull() | F.col("arr_airport").isNull()
    return fact.agg(
        F.count(F.lit(1)).cast("long").alias("rows_loaded"),
        _count_where(unmatched).alias("rows_unmatched_airports"),
    )


def _count_where(condition: Column) -> Column:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("long")


def parse_airports(source: str, content: str, limit: int = 20) -> list[tuple[Any, ...]]:
    """The airports dimension as (airport_id, city, state, name) rows, checked.

    The dimension is small (BTS lists under 7,000 airports), so it is parsed on the driver with
    the same rules as flight rows. Any unparseable row or duplicate ``airport_id`` raises
    InputFileError naming them: a dimension is used whole or not at all, since a duplicate id
    would multiply fact rows.
    """
    layout = layout_for(source, content, AIRPORT_COLUMNS)
    rows: list[tuple[Any, ...]] = []
    problems: list[str] = []
    seen: set[int] = set()
    duplicates: set[int] = set()
    lines = _LINE.finditer(content)
    for number, match in enumerate(lines, start=1):
        raw = match.group(1)
        if number <= layout.header_line_number or not raw.strip():
            continue
        fields = next(csv.reader([raw]))
        if len(fields) == layout.field_count + 1 and not fields[-1].strip():
            fields = fields[:-1]
        value = {
            name: fields[i].strip() if i < len(fields) else ""
            for name, i in layout.positions.items()
        }
        if raw.count('"') % 2:
            problems.append(f"line {number}: unbalanced quote")
        elif len(fields) != layout.field_count:
            problems.append(
                f"line {number}: {len(fields)} fields, the header has {layout.field_count}"
            )
        elif not re.match(_AIRPORT_ID, value["airport_id"]):
            problems.append(
                f"line {number}: airport_id '{value['airport_id']}' is not an airport id"
            )
        elif not value["name"]:
            problems.append(f"line {number}: name is missing")
        else:
            airport_id = int(value["airport_id"].split(".")[0])
            if airport_id in seen:
                duplicates.add(airport_id)
            seen.add(airport_id)
            rows.append((airport_id, value["city"] or None, value["state"] or None, value["name"]))
    if duplicates:
        problems.append(
            "duplicate airport_id " + ", ".join(str(i) for i in sorted(duplicates)[:limit])
        )
    if problems:
        shown = problems[:limit] + (
            [f"and {len(problems) - limit} more"] if len(problems) > limit else []
        )
        raise InputFileError(f"{source}: " + "; ".join(shown))
    return rows


def airports_frame(spark: SparkSession, rows: Sequence[tuple[Any, ...]]) -> DataFrame:
    """The checked dimension rows as a DataFrame for ``enrich``."""
    return spark.createDataFrame(
        list(rows), "airport_id BIGINT, city STRING, state STRING, name STRING"
    )


def enrich(flights: DataFrame, airports: DataFrame, flight_date: date) -> DataFrame:
    """Delayed flights joined to the dimension twice (departure, arrival), as left joins."""
    dims = airports.select("airport_id", "city", "state", "name")

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
