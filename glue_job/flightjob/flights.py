"""A day's flights: parsed from their numbered lines, judged, counted, and joined to the
airports dimension. No I/O: these functions decide, the job script reads and writes.

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

from collections.abc import Mapping, Sequence
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from flightjob.airports import AIRPORT_ID
from flightjob.lines import Layout

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


def _field_count(text: Column) -> Column:
    unquoted = F.regexp_replace(text, _QUOTED, "")
    return F.length(unquoted) - F.length(F.regexp_replace(unquoted, ",", "")) + 1


def _needs_csv_parser(text: Column) -> Column:
    return text.contains('"') | text.contains("\\")


def _tokens(text: Column, width: int) -> Column:
    """The line's fields as an array of at least ``width`` strings, as Spark's CSV parser reads
    them (``from_csv``), except that an empty field is "" (NULL from the parser; ``_field``
    maps both to NULL).

    Only a line with a quote or a backslash needs the CSV parser; any other line is its fields
    between commas, which ``split`` finds many times faster (``from_csv`` costs microseconds a
    line, most of a day's parsing if every line went through it). ``test_flights``
    compares the two on lines without quotes.
    """
    schema = ", ".join(f"f{i} STRING" for i in range(width))
    parsed = F.from_csv(text, schema, {"mode": "PERMISSIVE"})
    return F.when(
        _needs_csv_parser(text), F.array(*[parsed[f"f{i}"] for i in range(width)])
    ).otherwise(F.split(text, ",", -1))


def _field(tokens: Column, index: int) -> Column:
    """Field ``index`` (from 0); NULL when empty or past the end of the line."""
    return F.when(tokens[index] != "", tokens[index])


def _fields(lines: DataFrame, layouts: Sequence[Layout], wanted: Mapping[str, str]) -> DataFrame:
    """Add one string column per wanted name, plus ``field_count`` and ``expected_fields``.

    The tokens are a column of their own, used whole (their size is the field count of a line
    without quotes): Spark then splits each line once, where a column only read field by field
    would be inlined into, and computed again for, every field.
    """
    width = max(layout.field_count for layout in layouts) + 1
    tokenised = lines.withColumn("_tokens", _tokens(F.col("text"), width))
    field_count = F.when(_needs_csv_parser(F.col("text")), _field_count(F.col("text"))).otherwise(
        F.size("_tokens")
    )

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
        name: by_source(
            {lay.source: _field(F.col("_tokens"), lay.positions[name]) for lay in layouts}
        ).alias(name)
        for name in wanted
    }
    expected = by_source({lay.source: F.lit(lay.field_count) for lay in layouts})
    return tokenised.select(
        "source",
        "line_number",
        F.col("text").alias("raw"),
        *columns.values(),
        field_count.alias("field_count"),
        expected.alias("expected_fields"),
    )


def _missing(value: Column) -> Column:
    trimmed = F.trim(value)
    return value.isNull() | (trimmed == "") | (F.upper(trimmed) == "NA")


def _whole(value: Column) -> Column:
    """The whole number a checked value (``_WHOLE_NUMBER``, ``AIRPORT_ID``) holds: its digits
    before any ``.0+``, sign kept (no regular expression: this runs for every value loaded)."""
    return F.substring_index(F.trim(value), ".", 1).cast("long")


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
        .when(trimmed.rlike(AIRPORT_ID), F.lit(None))
        .otherwise(F.format_string(f"{shown} '%s' is not an airport id", trimmed))
    )


def _shape_problem() -> Column:
    count, expected = F.col("field_count"), F.col("expected_fields")
    trailing_comma = (count == expected + 1) & F.col("raw").rlike(r",\s*$")
    raw = F.col("raw")
    odd_quotes = raw.contains('"') & (
        (F.length(raw) - F.length(F.regexp_replace(raw, '"', ""))) % 2 == 1
    )
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
    # The reason is a column of its own before the typed values use it: written inline, the
    # whole expression would be repeated in each of them and evaluated once per use.
    checked = fields.withColumn("reason", reason)
    good = F.col("reason").isNull()

    def typed(value: Column) -> Column:
        return F.when(good & ~_missing(value), _whole(value))

    return checked.select(
        "source",
        "line_number",
        "raw",
        F.when(good, carrier).alias("carrier"),
        typed(F.col("originairportid")).alias("origin_id"),
        typed(F.col("destairportid")).alias("dest_id"),
        typed(F.col("depdelay")).alias("dep_delay"),
        typed(F.col("arrdelay")).alias("arr_delay"),
        "reason",
    )


def quarantined(parsed: DataFrame) -> DataFrame:
    """The rows that could not be parsed: source, line_number, reason, raw."""
    return parsed.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)


def delayed(parsed: DataFrame, min_dep_delay: int = DEFAULT_MIN_DEP_DELAY) -> DataFrame:
    """Good rows whose departure delay is at least ``min_dep_delay`` minutes."""
    return parsed.where(
        F.col("reason").isNull() & (F.col("dep_delay") >= F.lit(min_dep_delay))
    ).select("carrier", "origin_id", "dest_id", "dep_delay", "arr_delay")


def _outcome_columns(min_dep_delay: int) -> list[Column]:
    good = F.col("reason").isNull()
    dep = F.col("dep_delay")
    return [
        F.count(F.lit(1)).cast("long").alias("rows_read"),
        _count_where(good & (dep >= min_dep_delay)).alias("rows_delayed"),
        _count_where(good & (dep < min_dep_delay)).alias("rows_below_threshold"),
        _count_where(good & dep.isNull()).alias("rows_missing_delay"),
        _count_where(~good).alias("rows_quarantined"),
    ]


def outcome_counts(parsed: DataFrame, min_dep_delay: int = DEFAULT_MIN_DEP_DELAY) -> DataFrame:
    """One row: rows_read, rows_delayed, rows_below_threshold, rows_missing_delay, rows_quarantined.

    rows_read = rows_delayed + rows_below_threshold + rows_missing_delay + rows_quarantined.
    """
    return parsed.agg(*_outcome_columns(min_dep_delay))


def fact_counts(fact: DataFrame) -> DataFrame:
    """One row: rows_loaded, rows_unmatched_airports (departure or arrival not in the dimension)."""
    unmatched = F.col("dep_airport").isNull() | F.col("arr_airport").isNull()
    return fact.agg(
        F.count(F.lit(1)).cast("long").alias("rows_loaded"),
        _count_where(unmatched).alias("rows_unmatched_airports"),
    )


def day_counts(
    parsed: DataFrame, airports: DataFrame, min_dep_delay: int = DEFAULT_MIN_DEP_DELAY
) -> DataFrame:
    """``outcome_counts`` and ``fact_counts`` of the day in one aggregation, one pass.

    The fact rows are the delayed rows left-joined to a dimension whose ids are unique
    (``parse_airports`` refuses duplicates), so rows_loaded = rows_delayed, and a delayed row is
    unmatched when its departure or arrival id is not in the dimension.
    """
    ids = airports.select("airport_id")

    def known(id_column: str, flag: str) -> DataFrame:
        return F.broadcast(
            ids.select(F.col("airport_id").alias(id_column), F.lit(True).alias(flag))
        )

    flagged = parsed.join(known("origin_id", "_dep_known"), "origin_id", "left").join(
        known("dest_id", "_arr_known"), "dest_id", "left"
    )
    loaded = F.col("reason").isNull() & (F.col("dep_delay") >= F.lit(min_dep_delay))
    unknown = F.col("_dep_known").isNull() | F.col("_arr_known").isNull()
    return flagged.agg(
        *_outcome_columns(min_dep_delay),
        _count_where(loaded).alias("rows_loaded"),
        _count_where(loaded & unknown).alias("rows_unmatched_airports"),
    )


def _count_where(condition: Column) -> Column:
    return F.coalesce(F.sum(F.when(condition, 1).otherwise(0)), F.lit(0)).cast("long")


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
