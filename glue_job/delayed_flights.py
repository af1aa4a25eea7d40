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

Serialised: a run of a day waits until every run of the same day that Glue started before it
has ended, then lists the day's objects (``flight_io.wait_for_earlier_runs``): the last run to
commit is the last to have listed, so concurrent uploads of one day all end up loaded.

The airports dimension joined is the last one the airports job accepted
(``--accepted_airports_key``), never an upload that has not been checked: a rejected dimension
leaves the days after it loading against the previous one.

Reading: the day is read from the Data Catalog with ``from_catalog`` and a push-down predicate
on the partition, and the same partition's objects are read as text so that every line can be
accounted for (see ``flight_transforms``); the two record counts are compared and a difference
is reported. Writing: quarantined lines go to ``quarantine/date=.../run=<run id>/``, the day
replaces its previous rows in one transaction (staging table, then delete-and-insert in the
postactions, with the run recorded in the run table), and a JSON report with the counts goes to
``run-reports/date=.../<run id>.json`` for the state machine's notification.
"""

from __future__ import annotations

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
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
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
    given = [name for name in OPTIONAL if any(a.split("=")[0] == f"--{name}" for a in argv)]
    resolved = {**OPTIONAL, **getResolvedOptions(list(argv), [*REQUIRED, *given])}
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


def read_day(
    spark: Any, s3: Any, objects: list[flight_io.S3Object]
) -> tuple[DataFrame, list[T.Layout]]:
    """The day's lines (cached) and each object's column layout from its own header."""
    contents = [(obj.uri, flight_io.read_text(s3, obj)) for obj in objects]
    layouts = [T.layout_for(uri, text, T.FLIGHT_COLUMNS) for uri, text in contents]
    files = spark.createDataFrame(contents, "source STRING, content STRING")
    return T.split_lines(files).cache(), layouts


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    started = datetime.now(UTC)
    clock = time.monotonic()
    args = resolve_args(sys.argv if argv is None else argv)
    day = args.flight_date
    bucket: str = args["data_bucket"]

    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
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
    catalog_day = None
    if location is None:
        # The crawler adds no partition for a day whose only file is empty (or not yet crawled):
        # read the day's prefix directly, so that the error names the file itself.
        location = f"s3://{bucket}/{args['flights_prefix']}{PARTITION_KEY}={day.isoformat()}/"
        logger.warn(f"no catalog partition for {day}; reading {location}")
    else:
        catalog_day = glue_context.create_dynamic_frame.from_catalog(
            database=args["catalog_database"],
            table_name=args["flights_table"],
            push_down_predicate=f"{PARTITION_KEY} = '{day.isoformat()}'",
            transformation_ctx="catalog_day",
        )
    objects, ignored = flight_io.day_objects(s3, location)
    for other in ignored:
        logger.warn(f"ignoring {other.uri}: not a .csv object")
    if not objects:
        raise T.InputFileError(f"no .csv object under {location}")

    airports = T.airports_frame(
        spark,
        flight_io.accepted_airports(s3, flight_io.S3Object(bucket, args["accepted_airports_key"])),
    )
    lines, layouts = read_day(spark, s3, objects)
    parsed = T.parse_flights(T.data_lines(lines, layouts), layouts).cache()
    fact = T.enrich(T.delayed(parsed, args.min_dep_delay), airports, day).cache()

    counts = {
        **T.outcome_counts(parsed, args.min_dep_delay).collect()[0].asDict(),
        **T.fact_counts(fact).collect()[0].asDict(),
    }
    catalog_records = catalog_day.count() if catalog_day is not None else None

    quarantine = None
    if counts["rows_quarantined"]:
        quarantine = flight_io.S3Object(
            bucket, f"quarantine/date={day.isoformat()}/run={args.run_id}/rows.jsonl"
        )
        rows = T.quarantined(parsed).orderBy("source", "line_number").toLocalIterator()
        flight_io.put_json_lines(s3, quarantine, (row.asDict() for row in rows))

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
    stage = day_load.stage_table(day_load.FACT_TABLE, args.run_id)
    glue_context.write_dynamic_frame.from_jdbc_conf(
        frame=DynamicFrame.fromDF(fact, glue_context, "daily_flights_fact"),
        catalog_connection=args["connection_name"],
        connection_options={
            "dbtable": stage,
            "database": args["warehouse_database"],
            "preactions": day_load.day_preactions(stage),
            "postactions": day_load.day_postactions(stage, T.FACT_COLUMNS, record),
        },
        redshift_tmp_dir=args.resolved.get("TempDir") or "",
        transformation_ctx="load_day",
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
        "catalog_records": catalog_records,
        "quarantine_object": quarantine.uri if quarantine else None,
        "duration_seconds": round(time.monotonic() - clock, 3),
    }
    if catalog_records is not None and catalog_records != counts["rows_read"]:
        logger.warn(
            f"the catalog reader saw {catalog_records} records under {location}, "
            f"the line parser {counts['rows_read']} data rows"
        )
    flight_io.put_json(
        s3,
        flight_io.S3Object(bucket, f"run-reports/date={day.isoformat()}/{args.run_id}.json"),
        report,
    )
    logger.info("run report " + json.dumps(report, sort_keys=True))
    job.commit()
    for frame in (lines, parsed, fact):
        frame.unpersist()
    return report


if __name__ == "__main__":
    main()
