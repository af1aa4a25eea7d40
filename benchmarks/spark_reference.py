"""Reference: a day's work as a bare PySpark script on a warm local Spark, timed per pass.

What the day job does at its core, and nothing else: Spark's CSV reader over the day file, the
flights with DepDelay >= 60 kept, two broadcast left joins with the airports dimension
(departure, arrival) to the fact's columns (``glue_job/flightjob/flights.py``, FACT_COLUMNS),
and the rows COPYed into a PostgreSQL table. No line numbers, quarantine, counts, catalog,
run record or report. The session is the one the job runtime builds
(``flightpipe.gluelocal.runner.local_spark``: ``local[*]``, GLUE_SESSION_SETTINGS), in this
process of its own, so its JVM is not the stack's.

The rows reach PostgreSQL as the local Glue writer sends them (``flightpipe/gluelocal/jdbc.py``):
Spark's CSV writer to local files, then COPY. That is the fastest of the honest ways here: the
rows stay in the JVM and the executors write them in parallel, where ``collect()`` or
``toLocalIterator()`` sends every row through py4j to Python to be formatted again for COPY
(and Arrow, which would avoid that, is not installed).

For each file: one warm-up pass, not counted, then ``--runs`` timed passes; one JSON line per
file on standard output (``{"path", "rows_loaded", "seconds": [...]}``). ``benchmarks/flow.py``
runs it over its generated days.

    .venv/bin/python benchmarks/spark_reference.py DATABASE_URL DAY.csv [DAY.csv ...] --runs 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from flightpipe.paths import REPO
from flightpipe.shipped import reach_job_code

reach_job_code()
from flightjob.flights import enrich  # noqa: E402  (the job's own join)

AIRPORTS = REPO / "sample_data" / "airports.csv"
# The generated day's columns (``flightpipe generate``) and the dimension's, given to the
# reader: the job knows its columns and infers nothing.
FLIGHTS_SCHEMA = (
    "Carrier STRING, OriginAirportID BIGINT, DestAirportID BIGINT, DepDelay BIGINT, ArrDelay BIGINT"
)
AIRPORTS_SCHEMA = "airport_id BIGINT, city STRING, state STRING, name STRING"
MIN_DEP_DELAY = 60
# A table of the warehouse fact's columns and constraints (sql/003_table_daily_flights_fact.sql,
# applied to the stack's warehouse), in FACT_COLUMNS' order.
REFERENCE_TABLE = "CREATE TEMP TABLE reference_fact (LIKE airlines.daily_flights_fact)"


def fact(spark: Any, path: Path, day: date) -> Any:
    """The day's delayed flights joined twice to the airports (broadcast left joins), as the
    fact's columns: the job's own join (``flights.enrich``) over Spark's CSV reader,
    without the job's line numbering, parsing checks, quarantine and counts."""
    from pyspark.sql import functions as F

    flights = spark.read.csv(str(path), header=True, schema=FLIGHTS_SCHEMA)
    airports = spark.read.csv(str(AIRPORTS), header=True, schema=AIRPORTS_SCHEMA)
    delayed = flights.where(F.col("DepDelay") >= MIN_DEP_DELAY).select(
        F.col("Carrier").alias("carrier"),
        F.col("OriginAirportID").alias("origin_id"),
        F.col("DestAirportID").alias("dest_id"),
        F.col("DepDelay").alias("dep_delay"),
        F.col("ArrDelay").alias("arr_delay"),
    )
    return enrich(delayed, airports, day)


def one_pass(spark: Any, path: Path, day: date, database_url: str) -> tuple[float, int]:
    """(seconds, rows loaded) of read + filter + joins + CSV + COPY into a new table."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="spark-reference-") as scratch:
        staged = Path(scratch) / "rows"
        fact(spark, path, day).write.csv(str(staged), header=False, escape='"')
        with psycopg.connect(database_url) as conn:
            conn.execute(REFERENCE_TABLE)
            with conn.cursor().copy("COPY reference_fact FROM STDIN (FORMAT csv)") as copy:
                for part in sorted(staged.glob("part-*")):
                    with part.open("rb") as source:
                        while chunk := source.read(1 << 20):
                            copy.write(chunk)
            (loaded,) = conn.execute("SELECT count(*) FROM reference_fact").fetchone() or (0,)
    return time.monotonic() - started, int(loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("paths", type=Path, nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2016, 1, 1))
    args = parser.parse_args()
    from flightpipe.gluelocal.runner import local_spark

    spark = local_spark("spark-reference")
    for path in args.paths:
        one_pass(spark, path, args.day, args.database_url)  # warm-up, not counted
        passes = [one_pass(spark, path, args.day, args.database_url) for _ in range(args.runs)]
        result = {
            "path": str(path),
            "rows_loaded": passes[-1][1],
            "seconds": [round(seconds, 3) for seconds, _ in passes],
        }
        print(json.dumps(result), flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
