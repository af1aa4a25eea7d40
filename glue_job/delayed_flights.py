"""AWS Glue 5.0 job: load one day's delayed flights into the warehouse fact table.

Runs unchanged on AWS Glue and on the project's local Glue runtime. Job arguments:

  --flight_date        the day, YYYY-MM-DD (the ``date=`` partition)
  --data_bucket        bucket holding daily_flights/, dim/, quarantine/ and run-reports/
  --catalog_database   Glue database the crawler writes to
  --flights_table      catalog table of daily_flights (partitioned by ``date``)
  --connection_name    Glue connection to the warehouse
  --warehouse_database database name on that connection
  --accepted_airports_key  the last airports dimension the airports job accepted
  --TempDir            S3 staging for the Redshift COPY (set by Glue)
optional:
  --min_dep_delay      minutes; flights departing at least this late are loaded (default 60)
  --input_key          the object whose upload started this run, for the run record
  --flights_prefix     where the days are when the catalog has no partition (daily_flights/)
  --warehouse_copy_role, --lock_wait_seconds, --rehearsal   how the load runs (``day_load``)

A run waits for the earlier runs of its day before it lists the day's objects
(``flight_io.wait_for_earlier_runs``), joins the last accepted airports dimension, reads the day
once as text lines, quarantines what it cannot parse (JSON lines under
``quarantine/date=.../run=<run id>/``), replaces the day in one transaction (``day_load``) and
writes a run report (``run-reports/date=.../<run id>.json``) for the state machine's
notification. Step by step, with the reasons: docs/architecture.md ("The Glue job"),
docs/decisions/same-day-runs.md, docs/decisions/catalog-check.md.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import boto3
import day_load
import flight_io
import flight_transforms as T
from awsglue.context import GlueContext
from awsglue.job import Job
from pyspark.context import SparkContext
from pyspark.sql import DataFrame

REQUIRED = (
    "JOB_NAME",
    "flight_date",
    "data_bucket",
    "catalog_database",
    "flights_table",
    "connection_name",
    "warehouse_database",
    "accepted_airports_key",
)
OPTIONAL = {
    "min_dep_delay": str(T.DEFAULT_MIN_DEP_DELAY),
    "flights_prefix": "daily_flights/",
    "input_key": "",
    **day_load.OPTIONAL,
}
PARTITION_KEY = "date"


@dataclass(frozen=True)
class DayArgs:
    """The job's arguments. ``resolved`` is what ``getResolvedOptions`` returned (text only):
    it is what ``Job.init`` receives, because AWS hands it to the JVM as a
    ``java.util.Map[String, String]``; the typed values are for the job's own use."""

    resolved: dict[str, Any]
    flight_date: date
    min_dep_delay: int
    run_id: str

    def __getitem__(self, name: str) -> Any:
        return self.resolved[name]


def resolve_args(argv: Sequence[str]) -> DayArgs:
    """Required and optional job arguments (getResolvedOptions knows only required ones)."""
    resolved = flight_io.resolved_options(argv, REQUIRED, OPTIONAL)
    try:
        flight_date = date.fromisoformat(resolved["flight_date"])
    except ValueError as error:
        raise ValueError(
            f"--flight_date {resolved['flight_date']!r} is not a YYYY-MM-DD date"
        ) from error
    try:
        min_dep_delay = int(resolved["min_dep_delay"])
    except ValueError as error:
        raise ValueError(
            f"--min_dep_delay {resolved['min_dep_delay']!r} is not whole minutes"
        ) from error
    run_id = resolved.get("JOB_RUN_ID") or f"manual-{uuid.uuid4().hex}"
    return DayArgs(resolved, flight_date, min_dep_delay, run_id)


def catalog_check(database: str, table: str, day: date, location: str | None) -> str:
    """What the one catalog call (GetPartition) established, for the run report."""
    partition = f"{database}.{table} {PARTITION_KEY}={day.isoformat()}"
    if location is None:
        return (
            f"GetPartition {partition}: none (the crawler registers no partition for a day "
            "whose only files are empty, or has not crawled it yet); the day's prefix was "
            "listed instead"
        )
    return f"GetPartition {partition}: registered by the crawler at {location}, listed and read"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    started = datetime.now(UTC)
    clock = time.monotonic()
    args = resolve_args(sys.argv if argv is None else argv)
    day = args.flight_date
    bucket: str = args["data_bucket"]

    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    # The parsing projection compiles to one method larger than the JVM compiles to machine code
    # (8,000 bytes of bytecode; HotSpot's DontCompileHugeMethods): it would run interpreted,
    # about twice as slow as Spark's own per-expression evaluation. At this limit Spark falls
    # back to that for such a stage, as Spark's SQL configuration documents for the setting.
    spark.conf.set("spark.sql.codegen.hugeMethodLimit", "8000")
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args.resolved)
    logger = glue_context.get_logger()
    s3, glue = boto3.client("s3"), boto3.client("glue")
    flight_io.wait_for_earlier_runs(
        glue, args["JOB_NAME"], args.run_id, "--flight_date", day.isoformat(), logger.info
    )

    location = flight_io.partition_location(
        glue, args["catalog_database"], args["flights_table"], [day.isoformat()]
    )
    checked = catalog_check(args["catalog_database"], args["flights_table"], day, location)
    if location is None:
        # The crawler adds no partition for a day whose only file is empty (or not yet crawled):
        # read the day's prefix directly, so that the error names the file itself.
        location = f"s3://{bucket}/{args['flights_prefix']}{PARTITION_KEY}={day.isoformat()}/"
        logger.warn(f"no catalog partition for {day}; reading {location}")
    objects, ignored = flight_io.day_objects(s3, location)
    for other in ignored:
        logger.warn(f"ignoring {other.uri}: not a .csv object")
    if not objects:
        raise T.InputFileError(f"no .csv object under {location}")

    # Every cached frame is released when the run ends, whichever way: the local runtime runs
    # many jobs in one Spark.
    with contextlib.ExitStack() as cached:
        # Not cached: its four broadcasts (two joins counting, two enriching) each parse the
        # rows from the plan's literal, which is faster than filling a cache (T.rows_frame).
        airports = T.airports_frame(
            spark,
            flight_io.accepted_airports(
                s3, flight_io.S3Object(bucket, args["accepted_airports_key"])
            ),
        )
        day_lines = flight_io.read_lines(spark, [obj.uri for obj in objects])
        cached.callback(day_lines.lines.unpersist)
        layouts = day_lines.layouts
        # Cached: every use of the parsed rows would parse again, and a filter on them
        # (quarantine, delayed) would repeat the parsing expressions it is pushed through.
        parsed = T.parse_flights(T.data_lines(day_lines.numbered, layouts), layouts).cache()
        cached.callback(parsed.unpersist)
        counts = T.day_counts(parsed, airports, args.min_dep_delay).collect()[0].asDict()
        day_lines.lines.unpersist()  # parsed is cached now: the lines are not read again
        quarantine = None
        if counts["rows_quarantined"]:
            quarantine = f"s3://{bucket}/quarantine/date={day.isoformat()}/run={args.run_id}/"
            flight_io.write_json_lines(
                T.quarantined(parsed).sortWithinPartitions("source", "line_number"), quarantine
            )
        input_object = args["input_key"] and f"s3://{bucket}/{args['input_key']}"
        record = day_load.RunRecord(
            run_id=args.run_id,
            flight_date=day,
            input_object=input_object or location,
            counts=counts,
            min_dep_delay=args.min_dep_delay,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
        load_day(
            glue_context,
            args,
            T.enrich(T.delayed(parsed, args.min_dep_delay), airports, day),
            record,
        )

    report = {
        "status": "SUCCEEDED",
        "run_id": args.run_id,
        "flight_date": day.isoformat(),
        "input_object": record.input_object,
        "sources": [o.uri for o in objects],
        "ignored_objects": [o.uri for o in ignored],
        "min_dep_delay": args.min_dep_delay,
        **{name: counts[name] for name in day_load.COUNT_COLUMNS},
        "catalog_check": checked,
        "rehearsal": day_load.LoadSettings.from_args(args.resolved).rehearsal,
        "quarantine_prefix": quarantine,
        "duration_seconds": round(time.monotonic() - clock, 3),
    }
    flight_io.put_json(
        s3,
        flight_io.S3Object(bucket, f"run-reports/date={day.isoformat()}/{args.run_id}.json"),
        report,
    )
    logger.info("run report " + json.dumps(report, sort_keys=True))
    job.commit()
    return report


def load_day(
    glue_context: GlueContext, args: DayArgs, fact: DataFrame, record: day_load.RunRecord
) -> None:
    """Replace the day in the fact table with ``fact`` and record the run, in one transaction
    (staged through the Glue connection, swapped on the driver: ``day_load``)."""
    day_load.load_frame(
        glue_context,
        fact,
        day_load.FACT_TABLE,
        args.run_id,
        lambda stage, settings: day_load.day_swap(stage, T.FACT_COLUMNS, record, settings),
        args.resolved,
    )


if __name__ == "__main__":
    main()
