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
  --warehouse_copy_role, --lock_wait_seconds, --rehearsal   how the load runs (``warehouse``)

A run waits for the earlier runs of its day before it lists the day's objects
(``aws_io.wait_for_earlier_runs``), joins the last accepted airports dimension, reads the day
once as text lines, quarantines what it cannot parse (JSON lines under
``quarantine/date=.../run=<run id>/``), replaces the day in one transaction (``warehouse``) and
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
from awsglue.context import GlueContext
from awsglue.job import Job
from pyspark.context import SparkContext
from pyspark.sql import DataFrame

from flightjob import airports, aws_io, flights, lines, warehouse

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
    "min_dep_delay": str(flights.DEFAULT_MIN_DEP_DELAY),
    "flights_prefix": "daily_flights/",
    "input_key": "",
    **warehouse.OPTIONAL,
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
    resolved = aws_io.resolved_options(argv, REQUIRED, OPTIONAL)
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


@dataclass(frozen=True)
class DayFiles:
    """Where the day's files are, and which of them the run reads."""

    location: str
    catalog_check: str
    objects: list[aws_io.S3Object]
    ignored: list[aws_io.S3Object]


@dataclass(frozen=True)
class Loaded:
    """What the load did: the day's counts, where its quarantine went, the run's record."""

    counts: dict[str, Any]
    quarantine: str | None
    record: warehouse.RunRecord


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    started = datetime.now(UTC)
    clock = time.monotonic()
    args = resolve_args(sys.argv if argv is None else argv)
    glue_context, job = start(args)
    logger = glue_context.get_logger()
    s3, glue = boto3.client("s3"), boto3.client("glue")
    day = args.flight_date.isoformat()
    aws_io.wait_for_earlier_runs(
        glue, args["JOB_NAME"], args.run_id, "--flight_date", day, logger.info
    )
    files = find_files(glue, s3, args, logger)
    loaded = load(glue_context, s3, args, files, started)
    report = run_report(args, files, loaded, time.monotonic() - clock)
    report_key = f"run-reports/date={day}/{args.run_id}.json"
    aws_io.put_json(s3, aws_io.S3Object(args["data_bucket"], report_key), report)
    logger.info("run report " + json.dumps(report, sort_keys=True))
    job.commit()
    return report


def start(args: DayArgs) -> tuple[GlueContext, Job]:
    """The run's GlueContext and its initialised Job."""
    glue_context = GlueContext(SparkContext.getOrCreate())
    # The parsing projection compiles to one method larger than the JVM compiles to machine code
    # (8,000 bytes of bytecode; HotSpot's DontCompileHugeMethods): it would run interpreted,
    # about twice as slow as Spark's own per-expression evaluation. At this limit Spark falls
    # back to that for such a stage, as Spark's SQL configuration documents for the setting.
    glue_context.spark_session.conf.set("spark.sql.codegen.hugeMethodLimit", "8000")
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args.resolved)
    return glue_context, job


def find_files(glue: Any, s3: Any, args: DayArgs, logger: Any) -> DayFiles:
    """The day's .csv objects where the crawler registered its partition, else under its
    prefix; InputFileError when there are none."""
    day = args.flight_date
    location = aws_io.partition_location(
        glue, args["catalog_database"], args["flights_table"], [day.isoformat()]
    )
    checked = catalog_check(args["catalog_database"], args["flights_table"], day, location)
    if location is None:
        # The crawler adds no partition for a day whose only file is empty (or not yet crawled):
        # read the day's prefix directly, so that the error names the file itself.
        prefix = f"{args['flights_prefix']}{PARTITION_KEY}={day.isoformat()}/"
        location = f"s3://{args['data_bucket']}/{prefix}"
        logger.warn(f"no catalog partition for {day}; reading {location}")
    objects, ignored = aws_io.day_objects(s3, location)
    for other in ignored:
        logger.warn(f"ignoring {other.uri}: not a .csv object")
    if not objects:
        raise lines.InputFileError(f"no .csv object under {location}")
    return DayFiles(location, checked, list(objects), list(ignored))


def load(
    glue_context: GlueContext, s3: Any, args: DayArgs, files: DayFiles, started: datetime
) -> Loaded:
    """Read the day's lines, parse them, quarantine what cannot be loaded, and replace the day
    in the fact table with its delayed flights joined to the airports."""
    spark = glue_context.spark_session
    bucket, day = args["data_bucket"], args.flight_date
    # Every cached frame is released when the run ends, whichever way: the local runtime runs
    # many jobs in one Spark.
    with contextlib.ExitStack() as cached:
        # Not cached: its four broadcasts (two joins counting, two enriching) each parse the
        # rows from the plan's literal, which is faster than filling a cache (lines.rows_frame).
        dimension = airports.airports_frame(
            spark,
            aws_io.accepted_airports(s3, aws_io.S3Object(bucket, args["accepted_airports_key"])),
        )
        day_lines = aws_io.read_lines(spark, [obj.uri for obj in files.objects])
        cached.callback(day_lines.lines.unpersist)
        layouts = day_lines.layouts
        # Cached: every use of the parsed rows would parse again, and a filter on them
        # (quarantine, delayed) would repeat the parsing expressions it is pushed through.
        parsed = flights.parse_flights(lines.data_lines(day_lines.numbered, layouts), layouts)
        parsed = parsed.cache()
        cached.callback(parsed.unpersist)
        counts = flights.day_counts(parsed, dimension, args.min_dep_delay).collect()[0].asDict()
        day_lines.lines.unpersist()  # parsed is cached now: the lines are not read again
        quarantine = None
        if counts["rows_quarantined"]:
            quarantine = f"s3://{bucket}/quarantine/date={day.isoformat()}/run={args.run_id}/"
            aws_io.write_json_lines(
                flights.quarantined(parsed).sortWithinPartitions("source", "line_number"),
                quarantine,
            )
        input_object = args["input_key"] and f"s3://{bucket}/{args['input_key']}"
        record = warehouse.RunRecord(
            run_id=args.run_id,
            flight_date=day,
            input_object=input_object or files.location,
            counts=counts,
            min_dep_delay=args.min_dep_delay,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
        fact = flights.enrich(flights.delayed(parsed, args.min_dep_delay), dimension, day)
        load_day(glue_context, args, fact, record)
    return Loaded(counts, quarantine, record)


def run_report(args: DayArgs, files: DayFiles, loaded: Loaded, seconds: float) -> dict[str, Any]:
    """The run report the state machine's notification is made from."""
    return {
        "status": "SUCCEEDED",
        "run_id": args.run_id,
        "flight_date": args.flight_date.isoformat(),
        "input_object": loaded.record.input_object,
        "sources": [o.uri for o in files.objects],
        "ignored_objects": [o.uri for o in files.ignored],
        "min_dep_delay": args.min_dep_delay,
        **{name: loaded.counts[name] for name in warehouse.COUNT_COLUMNS},
        "catalog_check": files.catalog_check,
        "rehearsal": warehouse.LoadSettings.from_args(args.resolved).rehearsal,
        "quarantine_prefix": loaded.quarantine,
        "duration_seconds": round(seconds, 3),
    }


def load_day(
    glue_context: GlueContext, args: DayArgs, fact: DataFrame, record: warehouse.RunRecord
) -> None:
    """Replace the day in the fact table with ``fact`` and record the run, in one transaction
    (staged through the Glue connection, swapped on the driver: ``warehouse``)."""
    warehouse.load_frame(
        glue_context,
        fact,
        warehouse.FACT_TABLE,
        args.run_id,
        lambda stage, settings: warehouse.day_swap(stage, flights.FACT_COLUMNS, record, settings),
        args.resolved,
    )


if __name__ == "__main__":
    main()
