"""Warm the job runtime: start Spark, run the job's transforms a few times over the sample days.

A cold JVM compiles Spark's generated code on first use, and its JIT compiles Spark's hot paths
over the first several runs, which makes the first job runs several times slower than later
ones; running the same transforms a few times at stack start-up (``PASSES``) moves that cost
out of the first real runs. The stack serves meanwhile; its health says when Spark is warm.

The job reads ``s3://`` through Hadoop's S3A connector, whose first use loads the connector and
the AWS SDK and builds its client (paid otherwise by the first run of a burst, while its
executions start). The warm-up ends by asking S3A for a path in a bucket that does not exist:
that goes through S3A's whole request path against the stack and leaves nothing behind.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from flightpipe.shipped import reach_job_code

# A bucket name no stack holds (AWS reserves the ``--ol-s3`` suffix for access point aliases,
# so CreateBucket refuses it there too).
S3A_PROBE = "s3://flightpipe-warmup--ol-s3/none/"
# Passes over the sample days: the JVM compiles Spark's hot paths over several runs, not one
# (docs/performance.md has the burst times with one pass and with more).
PASSES = 6


def warm_up(sample_dir: Path, passes: int = PASSES) -> None:
    from flightpipe.gluelocal.runner import local_spark

    spark = local_spark()
    reach_job_code()
    from flightjob import airports, aws_io, flights, lines

    days = sorted(sample_dir.glob("daily_flights/date=*/flights.csv"))
    rows = airports.parse_airports(
        "airports", (sample_dir / "airports.csv").read_text(encoding="utf-8")
    )
    with tempfile.TemporaryDirectory(prefix="flightpipe-warmup-") as scratch:
        for number in range(passes):
            day = days[number % len(days)]
            day_lines = aws_io.read_lines(spark, [f"file://{day.resolve()}"])
            try:
                layouts = day_lines.layouts
                parsed = flights.parse_flights(
                    lines.data_lines(day_lines.numbered, layouts), layouts
                )
                parsed = parsed.cache()
                dimension = airports.airports_frame(spark, rows)
                flights.day_counts(parsed, dimension).collect()
                flights.quarantined(parsed).sortWithinPartitions("source", "line_number").collect()
                # The load writes the fact rows as CSV (the Redshift writer's staging files).
                fact = flights.enrich(flights.delayed(parsed), dimension, date(2013, 1, 1))
                fact.write.csv(f"file://{scratch}/pass-{number}")
                parsed.unpersist()
            finally:
                day_lines.lines.unpersist()
    warm_s3a(spark)


def warm_s3a(spark: object) -> None:
    """Load and start S3A by reading a path that does not exist (the read fails, as meant)."""
    from py4j.protocol import Py4JJavaError

    jvm = spark._jvm  # type: ignore[attr-defined]
    path = jvm.org.apache.hadoop.fs.Path(S3A_PROBE)
    filesystem = path.getFileSystem(spark._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    try:
        found = filesystem.exists(path)
    except Py4JJavaError as error:  # S3A's answer for a bucket that does not exist
        if error.java_exception.getClass().getSimpleName() != "UnknownStoreException":
            raise
        return
    if found:
        raise RuntimeError(f"S3A warm-up: {S3A_PROBE} exists on the stack")
