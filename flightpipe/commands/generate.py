"""Generate large, realistic daily flight files for benchmarks.

Why this exists: the shipped sample days hold under a thousand flights each,
far too few to measure the pipeline at production volume. This module
writes a day of any size in the pipeline's ``flights.csv`` format, using
only the standard library and the files in ``sample_data/`` (no BTS tables,
no pandas), so it works in any clone::

    flightpipe generate --date 2013-02-01 --rows 1000000 --out PATH [--seed N]

Realism comes from resampling the shipped sample days: each row draws a
(Carrier, OriginAirportID, DestAirportID) route and, independently, a
(DepDelay, ArrDelay) pair, both uniformly from the sample rows, so frequent
routes and delays stay frequent and cancelled flights keep empty delays.
The output is a pure function of (seed, date, rows, sample files).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
from dataclasses import dataclass
from datetime import date
from operator import add
from pathlib import Path
from typing import Any

from flightpipe.paths import SAMPLE_DIR

HEADER = ("Carrier", "OriginAirportID", "DestAirportID", "DepDelay", "ArrDelay")
DEFAULT_SAMPLE_DIR = SAMPLE_DIR
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class SamplePool:
    """Pre-rendered CSV fragments to draw rows from.

    ``routes`` holds ``"Carrier,Origin,Dest,"`` and ``delays`` holds
    ``"DepDelay,ArrDelay\\n"``, one entry per sample row (so frequency is
    the weight).
    """

    routes: tuple[str, ...]
    delays: tuple[str, ...]


def sample_day_files(sample_dir: Path) -> list[Path]:
    """The shipped daily flight files, in date order."""
    files = sorted(sample_dir.glob("daily_flights/date=*/flights.csv"))
    if not files:
        raise FileNotFoundError(f"no daily_flights/date=*/flights.csv under {sample_dir}")
    return files


def read_airport_ids(sample_dir: Path) -> set[str]:
    """AirportIDs of the shipped airports dimension."""
    with (sample_dir / "airports.csv").open(encoding="utf-8", newline="") as handle:
        return {row["airport_id"] for row in csv.DictReader(handle)}


def read_sample_rows(path: Path) -> list[list[str]]:
    """Data rows of one sample day, after checking its header."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        if header != HEADER:
            raise ValueError(f"{path}: header {header!r}, expected {HEADER!r}")
        return list(reader)


def check_airports(rows: list[list[str]], airport_ids: set[str], sample_dir: Path) -> None:
    """Fail if a sample row uses an airport missing from airports.csv."""
    unknown = {airport for row in rows for airport in row[1:3]} - airport_ids
    if unknown:
        raise ValueError(f"airport ids not in {sample_dir / 'airports.csv'}: {sorted(unknown)}")


def load_pool(sample_dir: Path | None = None) -> SamplePool:
    """Read the sample days into a pool of route and delay fragments."""
    directory = Path(sample_dir) if sample_dir is not None else DEFAULT_SAMPLE_DIR
    rows = [row for path in sample_day_files(directory) for row in read_sample_rows(path)]
    if not rows:
        raise ValueError(f"sample days under {directory} have no data rows")
    check_airports(rows, read_airport_ids(directory), directory)
    return SamplePool(
        routes=tuple(f"{carrier},{origin},{dest}," for carrier, origin, dest, _, _ in rows),
        delays=tuple(f"{dep},{arr}\n" for _, _, _, dep, arr in rows),
    )


def render_chunk(rng: random.Random, pool: SamplePool, rows: int) -> str:
    """``rows`` random CSV lines as one string."""
    routes = rng.choices(pool.routes, k=rows)
    delays = rng.choices(pool.delays, k=rows)
    return "".join(map(add, routes, delays))


def day_rng(seed: int, day: date) -> random.Random:
    """A generator seeded by both seed and day, so days differ but repeat exactly."""
    return random.Random(f"{seed}:{day.isoformat()}")


def generate_day(
    out_path: str | os.PathLike[str],
    day: date,
    rows: int,
    seed: int = 0,
    sample_dir: str | os.PathLike[str] | None = None,
) -> int:
    """Write one day of ``rows`` synthetic flights to ``out_path``.

    Rows stream to disk in chunks of ``CHUNK_ROWS`` through a temporary file
    that replaces ``out_path`` only when complete. Parent folders are
    created. Returns the number of data rows written.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    pool = load_pool(Path(sample_dir) if sample_dir is not None else None)
    rng = day_rng(seed, day)
    target = Path(out_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(HEADER) + "\n")
        for start in range(0, rows, CHUNK_ROWS):
            handle.write(render_chunk(rng, pool, min(CHUNK_ROWS, rows - start)))
    os.replace(partial, target)
    return rows


def non_negative_int(text: str) -> int:
    """argparse type for a row count."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def command(args: argparse.Namespace) -> int:
    written = generate_day(
        args.out, args.date, args.rows, seed=args.seed, sample_dir=args.sample_dir
    )
    print(f"wrote {written} rows for {args.date.isoformat()} to {args.out}")
    return 0


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "generate", help="write one synthetic day of flights in the pipeline's flights.csv format"
    )
    parser.add_argument("--date", required=True, type=date.fromisoformat, help="day, YYYY-MM-DD")
    parser.add_argument("--rows", required=True, type=non_negative_int, help="number of data rows")
    parser.add_argument("--out", required=True, type=Path, help="output CSV path")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--sample-dir",
        type=Path,
        default=None,
        help=f"sample data folder (default {DEFAULT_SAMPLE_DIR})",
    )
    parser.set_defaults(handler=command)
