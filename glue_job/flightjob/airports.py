"""The airports dimension: its columns, its file checked and parsed on the driver, its frame."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from flightjob.lines import InputFileError, layout_for, numbered_lines, rows_frame

AIRPORT_COLUMNS: Mapping[str, str] = {
    "airport_id": "airport_id",
    "city": "city",
    "state": "state",
    "name": "name",
}
AIRPORT_ID = r"^\+?[0-9]{1,18}(\.0+)?$"


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
        elif not re.match(AIRPORT_ID, value["airport_id"]):
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
