"""AWS Glue 5.0 job: replace the airports dimension in the warehouse from ``dim/airports.csv``.

The file is parsed and checked on the driver with the same rules the day job uses
(``flightjob.airports.parse_airports``): a bad row or a duplicate ``airport_id`` fails the run
naming them, and the warehouse keeps its previous dimension. Otherwise the rows are staged
through the Glue connection and swapped in, in one transaction on the driver
(``flightjob.warehouse``), and the checked text is kept at ``--accepted_airports_key``: the
day runs join that copy, so an upload that is refused never reaches them.

Job arguments: --data_bucket, --airports_key, --accepted_airports_key, --connection_name,
--warehouse_database, --TempDir (set by Glue).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from typing import Any

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from pyspark.context import SparkContext

from flightjob import airports, aws_io, warehouse

REQUIRED = (
    "JOB_NAME",
    "data_bucket",
    "airports_key",
    "accepted_airports_key",
    "connection_name",
    "warehouse_database",
)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = sys.argv if argv is None else argv
    args = aws_io.resolved_options(argv, REQUIRED, warehouse.OPTIONAL)
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    s3 = boto3.client("s3")
    source = aws_io.S3Object(args["data_bucket"], args["airports_key"])
    text = aws_io.read_text(s3, source)
    rows = airports.parse_airports(source.uri, text)
    frame = airports.airports_frame(glue_context.spark_session, rows)
    warehouse.load_frame(
        glue_context,
        frame,
        warehouse.AIRPORTS_TABLE,
        args.get("JOB_RUN_ID") or f"manual-{uuid.uuid4().hex}",
        warehouse.airports_swap,
        args,
    )
    accepted = aws_io.S3Object(args["data_bucket"], args["accepted_airports_key"])
    aws_io.accept_airports(s3, accepted, text)
    report = {
        "status": "SUCCEEDED",
        "airports_object": source.uri,
        "accepted_object": accepted.uri,
        "rows_loaded": len(rows),
    }
    glue_context.get_logger().info("airports loaded " + json.dumps(report))
    job.commit()
    return report


if __name__ == "__main__":
    main()
