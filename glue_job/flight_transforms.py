"""Pure DataFrame -> DataFrame transforms of the delayed-flights Glue job.

No ``awsglue`` import and no I/O: the job script reads and writes, these functions decide. They
run on any SparkSession, the same on AWS Glue 5.0 and locally, and are tested on tiny inline
frames.

The input is text lines, not a CSV reader's rows, so that every data line ends up loaded, below
the threshold, missing its delay, or quarantined with its line number, reason and raw text.
Line numbers stay exact with the lines read in parallel: ``text_lines`` tags each line with its
file, its split's first byte and ``monotonically_increasing_id``; ``file_summaries`` counts the
lines of each split and finds each file's header and first non-UTF-8 line; ``number_lines`` adds
the split offsets back. ``numbered_lines`` is the same numbering in plain Python. Why, and how
the numbering holds: docs/decisions/parse-lines.md.

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
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
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
# A line with nothing but these is blank for finding the header (the BOM included).
_HEADER_BLANK = BOM + " \t"


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


def numbered_lines(content: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of ``content``, from 1, blank lines included.

    Lines end at LF, CRLF or CR, as Hadoop's line reader ends them; text after the last line
    ending is a last line, an empty one is not.
    """
    for number, match in enumerate(_LINE.finditer(content), start=1):
        if match.group(1) or match.group(2):
            yield number, match.group(1)
        if not match.group(2):
            break


def header_line(content: str) -> tuple[int, str] | None:
    """(line number, text) of the first non-blank line, the header; None for a blank file."""
    for number, line in numbered_lines(content):
        if line.strip(_HEADER_BLANK):
            return number, line
    return None


def layout_for(source: str, content: str, wanted: Mapping[str, str]) -> Layout:
    """The layout of ``source`` from its header line; InputFileError if it has none usable."""
    return layout_from_header(source, header_line(content), wanted)


def layout_from_header(
    source: str, found: tuple[int, str] | None, wanted: Mapping[str, str]
) -> Layout:
    """The layout of ``source`` from its header line (number, text), or InputFileError."""
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


def text_lines(text: DataFrame) -> DataFrame:
    """Spark's text reader's rows -> (file_path, block_start, row_id, text), one row per line.

    Must be applied to the reader's DataFrame itself, before any filter: ``row_id`` is
    ``monotonically_increasing_id``, which counts the rows of a partition as they leave the
    reader (partition index in the upper 31 bits, place in the partition in the lower 33).
    Spark pushes no filter below it, since it is not deterministic. ``file_path`` is the URI
    Spark read (percent-encoded), ``block_start`` the first byte of the line's split.
    """
    return text.select(
        F.col("_metadata.file_path").alias("file_path"),
        F.col("_metadata.file_block_start").alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
        F.col("value").alias("text"),
    )


def _not_utf8(text: Column) -> Column:
    """A line whose bytes are not UTF-8: the reader keeps the raw bytes, and encoding the text
    again replaces each invalid sequence, so the two differ."""
    return text.cast("binary") != F.encode(text, "UTF-8")


def file_summaries(lines: DataFrame) -> DataFrame:
    """``text_lines`` -> one row per file, what the driver needs to know of it.

    Columns: file_path; lines (the file's line count); splits, an array of (block_start,
    first_row_id, line_offset) per split that holds lines, ``line_offset`` being the number of
    the file's lines in earlier splits; header, (line_number, text) of the first line that is
    not blank (a byte-order mark, blanks and tabs are blank), NULL if none; not_utf8,
    (line_number, bytes) of the first line that is not UTF-8, NULL if none.
    """
    blank = F.col("text").rlike(f"^[{_HEADER_BLANK}]*$")
    per_split = lines.groupBy("file_path", "block_start").agg(
        F.count(F.lit(1)).alias("lines"),
        F.min("row_id").alias("first_row_id"),
        F.min(F.when(~blank, F.struct("row_id", "text"))).alias("first_text"),
        F.min(
            F.when(
                _not_utf8(F.col("text")),
                F.struct("row_id", F.col("text").cast("binary").alias("bytes")),
            )
        ).alias("first_not_utf8"),
    )
    earlier = (
        Window.partitionBy("file_path")
        .orderBy("block_start")
        .rowsBetween(Window.unboundedPreceding, -1)
    )
    offsets = per_split.withColumn(
        "line_offset", F.coalesce(F.sum("lines").over(earlier), F.lit(0)).cast("long")
    )

    def line_number(found: str) -> Column:
        return F.col("line_offset") + F.col(f"{found}.row_id") - F.col("first_row_id") + 1

    def first_line(found: str, field: str) -> Column:
        """(line_number, ``field``) of the file's first line of kind ``found``, NULL if none."""
        return F.min(
            F.when(
                F.col(found).isNotNull(),
                F.struct(
                    line_number(found).alias("line_number"), F.col(f"{found}.{field}").alias(field)
                ),
            )
        )

    return offsets.groupBy("file_path").agg(
        F.sum("lines").cast("long").alias("lines"),
        F.sort_array(F.collect_list(F.struct("block_start", "first_row_id", "line_offset"))).alias(
            "splits"
        ),
        first_line("first_text", "text").alias("header"),
        first_line("first_not_utf8", "bytes").alias("not_utf8"),
    )


def file_layout(source: str, summary: Row | None, wanted: Mapping[str, str]) -> Layout:
    """The layout of one file from its ``file_summaries`` row (None: the file has no line), or
    InputFileError: not UTF-8, no header line, a required column missing or repeated."""
    if summary is not None and summary["not_utf8"] is not None:
        number, data = summary["not_utf8"]["line_number"], bytes(summary["not_utf8"]["bytes"])
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            sample = data[error.start : error.start + 8]
            raise InputFileError(
                f"{source}: not UTF-8 text (line {number}, at byte {error.start} of the line: "
                f"{sample!r})"
            ) from None
        raise InputFileError(f"{source}: not UTF-8 text (line {number})")
    found = summary["header"] if summary is not None else None
    return layout_from_header(
        source, (found["line_number"], found["text"]) if found is not None else None, wanted
    )


def split_offsets(spark: SparkSession, summaries: Mapping[str, Row]) -> DataFrame:
    """The per-split offset table, by source: (file_path, block_start, source, first_row_id,
    line_offset), one row per split, from the ``file_summaries`` rows the driver holds."""
    rows = [
        (
            row["file_path"],
            split["block_start"],
            source,
            split["first_row_id"],
            split["line_offset"],
        )
        for source, row in summaries.items()
        for split in row["splits"]
    ]
    return rows_frame(
        spark,
        rows,
        (
            ("file_path", "STRING"),
            ("block_start", "BIGINT"),
            ("source", "STRING"),
            ("first_row_id", "BIGINT"),
            ("line_offset", "BIGINT"),
        ),
    )


def number_lines(lines: DataFrame, offsets: DataFrame) -> DataFrame:
    """``text_lines`` -> (source, line_number, text): every line, blank ones included, numbered
    from 1 in its file, with the source the driver named for its file."""
    return lines.join(F.broadcast(offsets), ["file_path", "block_start"]).select(
        "source",
        (F.col("line_offset") + F.col("row_id") - F.col("first_row_id") + 1).alias("line_number"),
        "text",
    )


def data_lines(lines: DataFrame, layouts: Sequence[Layout]) -> DataFrame:
    """The non-blank lines after each file's header line."""
    after_header = None
    for layout in layouts:
        this = (F.col("source") == layout.source) & (
            F.col("line_number") > layout.header_line_number
        )
        after_header = this if after_header is None else after_header | this
    if after_header is None:
        return lines.limit(0)
    return lines.where(after_header & (F.trim(F.col("text")) != ""))


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
    line, most of a day's parsing if every line went through it). ``test_flight_transforms``
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
    """The whole number a checked value (``_WHOLE_NUMBER``, ``_AIRPORT_ID``) holds: its digits
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
        .when(trimmed.rlike(_AIRPORT_ID), F.lit(None))
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
    for number, raw in numbered_lines(content):
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
    return rows_frame(
        spark,
        rows,
        (("airport_id", "BIGINT"), ("city", "STRING"), ("state", "STRING"), ("name", "STRING")),
    )


def rows_frame(
    spark: SparkSession, rows: Sequence[Sequence[Any]], fields: Sequence[tuple[str, str]]
) -> DataFrame:
    """Rows the driver holds as a DataFrame of ``fields`` (name, SQL type), made in the JVM from
    one JSON literal, in a single partition.

    ``spark.createDataFrame`` on a list sends the rows through a Python worker (PySpark
    re-serialises a parallelised list in a Python task) each time the frame is computed, and
    the airports dimension is broadcast several times a run. A JSON literal parsed by
    ``from_json`` keeps every value exactly (JSON carries any Unicode text, and whole numbers up
    to BIGINT's range), and the plan holds the rows themselves.
    """
    names = [name for name, _ in fields]
    text = json.dumps([dict(zip(names, row, strict=True)) for row in rows])
    schema = ", ".join(f"`{name}`: {kind}" for name, kind in fields)
    return spark.range(1, numPartitions=1).select(
        F.inline(F.from_json(F.lit(text), f"ARRAY<STRUCT<{schema}>>"))
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
