"""Line numbers stay exact when Spark splits the day's files across many tasks.

The job reads its files with Spark's text reader and numbers each line from a per-split offset
table (``aws_io.read_lines``, ``lines.file_summaries``). Here the files are cut
into 64-byte splits, several of them packed into one partition, and every line's number and
text are compared with the pure-Python numbering of the whole text that the job used before and
still uses for the airports dimension (``lines.numbered_lines``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from flightjob import aws_io, flights, lines

HEADER = "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay"
ENDINGS = ("\n", "\r\n", "\r")
SPLIT_BYTES = 64


@contextlib.contextmanager
def tiny_splits(spark) -> Iterator[None]:
    """Spark cuts files into SPLIT_BYTES-byte splits, packing small ones together."""
    settings = {
        "spark.sql.files.maxPartitionBytes": str(SPLIT_BYTES),
        "spark.sql.files.openCostInBytes": "1",
    }
    saved = {key: spark.conf.get(key) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)


def data_line(rng: random.Random) -> str:
    """A flight row, sometimes quoted, with a quoted comma, a long field or a stray quote."""
    fields = ["AA", str(rng.randint(10000, 16000)), str(rng.randint(10000, 16000))]
    fields += [str(rng.randint(-20, 300)), rng.choice(["5", "", "NA", "-3.00"])]
    shape = rng.random()
    if shape < 0.2:
        fields = [f'"{f}"' for f in fields]
    elif shape < 0.3:
        fields[0] = '"A,A"'
    elif shape < 0.4:
        fields[4] = "9" * rng.randint(70, 200)  # a line longer than a split
    elif shape < 0.45:
        fields[1] = '"12478'  # an unbalanced quote
    return ",".join(fields)


def messy_file(rng: random.Random, rows: int, bom: bool, lead_blanks: int) -> str:
    """Mixed LF, CRLF and CR endings, blank and blank-looking lines, no or a final ending."""
    parts = ["\ufeff" if bom else ""]
    parts += [rng.choice(ENDINGS) for _ in range(lead_blanks)]
    parts += [HEADER, rng.choice(ENDINGS)]
    for _ in range(rows):
        kind = rng.random()
        if kind < 0.1:
            parts.append("")  # a blank line
        elif kind < 0.15:
            parts.append(rng.choice(["  ", "\t", " \t "]))
        elif kind < 0.18:
            parts.append('"AA,10397,12478,61,0')  # a quoted field running over a line end
        else:
            parts.append(data_line(rng))
        parts.append(rng.choice(ENDINGS))
    if rng.random() < 0.5:
        parts.append(data_line(rng))  # a last line without an ending
    return "".join(parts)


def boundary_file() -> str:
    """CRLF and CR endings whose CR is the last byte of a split."""
    text = HEADER + "\r\n"
    while len(text.encode()) < 8 * SPLIT_BYTES:
        row = "AA,10397,12478,61,0"
        room = SPLIT_BYTES - len(text.encode()) % SPLIT_BYTES
        filler = "9" * max(1, room - len(row) - 2)
        text += f"{row},{filler}"[: max(1, room - 1)] + ("\r\n" if len(text) % 3 else "\r")
    return text


def short_tail(content: str, tail: int) -> str:
    """``content`` with blank lines after its header and ``tail`` line feeds at its end, so that
    its last split is ``tail`` bytes of lines: Spark packs such short splits together, several
    to a partition."""
    padding = -len(content.encode("utf-8")) % SPLIT_BYTES
    return content.replace(HEADER, HEADER + "\n" * padding, 1) + "\n" * tail


def expected(content: str) -> list[tuple[int, str]]:
    """The pure-Python numbering; Hadoop's reader drops a UTF-8 byte-order mark at the start of a
    file, which the job's header handling ignores anyway."""
    numbered = list(lines.numbered_lines(content))
    if numbered and numbered[0][0] == 1:
        numbered[0] = (1, numbered[0][1].removeprefix(lines.BOM))
    return numbered


@pytest.fixture
def day_files(tmp_path: Path) -> dict[str, str]:
    """Files of one day, by the URI the job would be given (a ``date=`` directory, names with
    characters Spark would otherwise read as a glob)."""
    rng = random.Random(20130101)
    directory = tmp_path / "date=2013-01-01"
    directory.mkdir()
    contents = {
        "flights.csv": messy_file(rng, 30, bom=True, lead_blanks=0),
        "late [1] *?.csv": messy_file(rng, 20, bom=False, lead_blanks=3),
        "crlf.csv": messy_file(rng, 15, bom=True, lead_blanks=2),
        "boundary.csv": boundary_file(),
        "one line.csv": HEADER,
    }
    files = {}
    for number, (name, content) in enumerate(contents.items()):
        if name != "flights.csv":  # which may end without a line ending
            content = short_tail(content, 8 + 5 * number)
        (directory / name).write_bytes(content.encode("utf-8"))
        files[f"file://{directory / name}"] = content
    return files


def numbered(day: aws_io.DayLines) -> dict[str, list[tuple[int, str]]]:
    found: dict[str, list[tuple[int, str]]] = {}
    for row in day.numbered.orderBy("source", "line_number").collect():
        found.setdefault(row.source, []).append((row.line_number, row.text))
    return found


def test_line_numbers_are_exact_across_many_tiny_splits(spark, day_files):
    with tiny_splits(spark):
        day = aws_io.read_lines(spark, list(day_files))
    try:
        splits = day.lines.select("file_path", "block_start", F.shiftright("row_id", 33).alias("p"))
        per_partition = splits.distinct().groupBy("p").count().collect()
        assert splits.select("file_path", "block_start").distinct().count() > 5 * len(day_files)
        assert max(r["count"] for r in per_partition) > 1, "no partition holds several splits"

        assert numbered(day) == {source: expected(text) for source, text in day_files.items()}
        assert [layout.header_line_number for layout in day.layouts] == [
            lines.header_line(text)[0] for text in day_files.values()
        ]
    finally:
        day.lines.unpersist()


def test_tiny_splits_parse_the_same_rows_as_whole_files(spark, day_files):
    def parsed_rows(day: aws_io.DayLines) -> list[tuple]:
        parsed = flights.parse_flights(lines.data_lines(day.numbered, day.layouts), day.layouts)
        return sorted(tuple(r) for r in parsed.collect())

    whole = aws_io.read_lines(spark, list(day_files))
    with tiny_splits(spark):
        split = aws_io.read_lines(spark, list(day_files))
    try:
        assert whole.lines.select("block_start").distinct().collect() == [(0,)]
        rows = parsed_rows(split)
        assert rows == parsed_rows(whole)
        assert any(r[-1] is None for r in rows) and any(r[-1] is not None for r in rows)
    finally:
        whole.lines.unpersist()
        split.lines.unpersist()


def test_a_file_that_is_not_utf8_is_refused_naming_its_line(spark, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\nAA,1,2,61,0\r\nAA,1,2,61,0,Z\xfcrich\n".encode("latin-1"))

    with pytest.raises(lines.InputFileError) as raised:
        aws_io.read_lines(spark, [f"file://{path}"])

    assert str(raised.value) == (
        f"file://{path}: not UTF-8 text (line 3, at byte 13 of the line: b'\\xfcrich')"
    )


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf\r\n  \n\t\r"])
def test_an_empty_or_blank_file_has_no_header(spark, tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)

    with pytest.raises(lines.InputFileError, match="empty file, no header line"):
        aws_io.read_lines(spark, [f"file://{path}"])
