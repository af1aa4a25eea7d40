"""A day's files as numbered lines: each file's header and layout, and every line's exact number
in its file, with the lines read in parallel. Why, and how the numbering holds:
docs/decisions/parse-lines.md."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F

BOM = "\ufeff"
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
