"""Unit tests for flightpipe.commands.generate and the shipped sample_data files.

The generator is the benchmark data source and the sample files are its only
input, so both the output contract (header, row count, determinism, real
airport ids, empty delays for cancelled flights) and the shipped files are
checked here.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path

import pytest

from flightpipe import cli
from flightpipe.commands.generate import DEFAULT_SAMPLE_DIR, HEADER, generate_day

DAY = date(2013, 2, 1)
SAMPLE_DAYS = sorted(DEFAULT_SAMPLE_DIR.glob("daily_flights/date=*/flights.csv"))


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of a CSV file."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def shipped_airport_ids() -> list[str]:
    """airport_id column of the shipped airports.csv."""
    with (DEFAULT_SAMPLE_DIR / "airports.csv").open(encoding="utf-8", newline="") as handle:
        return [row["airport_id"] for row in csv.DictReader(handle)]


def write_sample_dir(root: Path, flights: list[str]) -> Path:
    """A minimal sample_data folder with one day of the given flight lines."""
    airports = root / "airports.csv"
    day_file = root / "daily_flights" / "date=2013-01-01" / "flights.csv"
    day_file.parent.mkdir(parents=True)
    airports.write_text(
        "airport_id,city,state,name\n10001,A,AK,A\n10003,B,AK,B\n", encoding="utf-8"
    )
    day_file.write_text(
        ",".join(HEADER) + "\n" + "".join(f"{line}\n" for line in flights), encoding="utf-8"
    )
    return root


@pytest.mark.parametrize("rows", [0, 1, 12_345, 120_001])
def test_writes_exact_header_and_row_count(tmp_path: Path, rows: int) -> None:
    out = tmp_path / "flights.csv"
    assert generate_day(out, DAY, rows) == rows
    header, data = read_rows(out)
    assert tuple(header) == HEADER
    assert len(data) == rows
    assert all(len(row) == len(HEADER) for row in data)


def test_lf_line_endings_and_no_partial_file_left(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "flights.csv"
    generate_day(out, DAY, 1000)
    assert b"\r" not in out.read_bytes()
    assert [path.name for path in out.parent.iterdir()] == ["flights.csv"]


def test_deterministic_per_seed(tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("a.csv", "b.csv", "c.csv")]
    generate_day(paths[0], DAY, 5000, seed=42)
    generate_day(paths[1], DAY, 5000, seed=42)
    generate_day(paths[2], DAY, 5000, seed=43)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_days_differ_for_same_seed(tmp_path: Path) -> None:
    first, second = tmp_path / "1.csv", tmp_path / "2.csv"
    generate_day(first, date(2013, 2, 1), 2000, seed=1)
    generate_day(second, date(2013, 2, 2), 2000, seed=1)
    assert first.read_bytes() != second.read_bytes()


def test_only_known_airport_ids(tmp_path: Path) -> None:
    out = tmp_path / "flights.csv"
    generate_day(out, DAY, 50_000, seed=3)
    _, data = read_rows(out)
    used = {airport for row in data for airport in row[1:3]}
    assert used <= set(shipped_airport_ids())


def test_delays_are_integers_or_empty(tmp_path: Path) -> None:
    out = tmp_path / "flights.csv"
    generate_day(out, DAY, 50_000, seed=5)
    _, data = read_rows(out)
    fields = {field for row in data for field in row[3:]}
    assert all(field == "" or re.fullmatch(r"-?\d+", field) for field in fields)
    assert any(row[3] == "" for row in data), "cancelled flights from the sample should appear"


def test_cancelled_flights_keep_empty_delays(tmp_path: Path) -> None:
    sample = write_sample_dir(tmp_path / "sample", ["AA,10001,10003,,", "AA,10003,10001,15,22"])
    out = tmp_path / "flights.csv"
    generate_day(out, DAY, 2000, seed=9, sample_dir=sample)
    _, data = read_rows(out)
    delays = {tuple(row[3:]) for row in data}
    assert delays == {("", ""), ("15", "22")}


def test_rejects_airport_missing_from_dimension(tmp_path: Path) -> None:
    sample = write_sample_dir(tmp_path / "sample", ["AA,10001,99999,1,2"])
    with pytest.raises(ValueError, match="99999"):
        generate_day(tmp_path / "flights.csv", DAY, 10, sample_dir=sample)


def test_cli_writes_file(tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    assert (
        cli.main(
            ["generate", "--date", "2013-02-01", "--rows", "100", "--out", str(out), "--seed", "2"]
        )
        == 0
    )
    _, data = read_rows(out)
    assert len(data) == 100


def test_shipped_sample_days_exist_with_exact_header() -> None:
    assert len(SAMPLE_DAYS) == 7
    for path in SAMPLE_DAYS:
        header, data = read_rows(path)
        assert tuple(header) == HEADER, path
        assert data, path


def test_shipped_airports_header_and_unique_ids() -> None:
    header, _ = read_rows(DEFAULT_SAMPLE_DIR / "airports.csv")
    assert header == ["airport_id", "city", "state", "name"]
    ids = shipped_airport_ids()
    assert len(ids) == len(set(ids))
    assert all(airport_id.isdigit() for airport_id in ids)
