"""S3, Data Catalog and Glue job-run I/O of the pipeline's Glue jobs.

The day's objects are listed through boto3 on the driver (names only) and read by Spark's text
reader, so that their lines are split across executors (``read_lines``; how each line keeps its
exact number is told in ``lines``); the driver then holds one small row per file,
never the content. Quarantined rows are written by Spark as JSON lines. The airports dimension
(a few hundred kilobytes) is still read whole through boto3 and parsed on the driver.

On AWS Glue, Spark reads and writes ``s3://`` natively; locally the session maps ``s3://`` to
Hadoop's S3A connector pointed at ``AWS_ENDPOINT_URL`` (``flightpipe.gluelocal.runner``), and
boto3 honours the same variable.

Runs of the day job for the same day are serialised through Glue's own record of job runs
(``wait_for_earlier_runs``): a run lists the day's objects only once every run of that day
that started before it has ended. So the run that commits last is the one that listed last,
and a file that landed while another run of its day was working is never lost.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import ClientError
from pyspark.sql import DataFrame, SparkSession

from flightjob import flights
from flightjob.airports import parse_airports
from flightjob.lines import (
    InputFileError,
    Layout,
    file_layout,
    file_summaries,
    number_lines,
    split_offsets,
    text_lines,
)


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def resolved_options(
    argv: Sequence[str], required: Sequence[str], optional: Mapping[str, str]
) -> dict[str, Any]:
    """The job's arguments: ``required`` as ``getResolvedOptions`` resolves them, and each of
    ``optional`` given or its default (``getResolvedOptions`` knows only required ones)."""
    from awsglue.utils import getResolvedOptions

    given = [name for name in optional if any(a.split("=")[0] == f"--{name}" for a in argv)]
    return {**optional, **getResolvedOptions(list(argv), [*required, *given])}


def parse_s3_uri(uri: str) -> S3Object:
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "s3a", "s3n") or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return S3Object(parts.netloc, parts.path.lstrip("/"))


def partition_location(glue: Any, database: str, table: str, values: list[str]) -> str | None:
    """The S3 location the Data Catalog holds for one partition of ``table``, or None."""
    try:
        partition = glue.get_partition(
            DatabaseName=database, TableName=table, PartitionValues=values
        )["Partition"]
    except glue.exceptions.EntityNotFoundException:
        return None
    return str(partition["StorageDescriptor"]["Location"])


def day_objects(s3: Any, location: str) -> tuple[list[S3Object], list[S3Object]]:
    """(CSV objects, other objects) directly under a partition location, by key order.

    Names starting with ``_`` or ``.`` are skipped, as Hive and Glue do.
    """
    prefix = parse_s3_uri(location.rstrip("/") + "/")
    csvs: list[S3Object] = []
    others: list[S3Object] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key, Delimiter="/"):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix.key) :]
            if not name or name.startswith(("_", ".")):
                continue
            target = csvs if name.lower().endswith(".csv") else others
            target.append(S3Object(prefix.bucket, item["Key"]))
    return csvs, others


class MissingObject(InputFileError):
    """The object does not exist."""


def read_text(s3: Any, obj: S3Object) -> str:
    """An object's content decoded as UTF-8; InputFileError naming the object otherwise.

    S3 answers a missing key with 403, not 404, to a caller whose ``s3:ListBucket`` is limited
    to prefixes (the jobs' roles): a refused read is told apart from a missing object by
    listing the key.
    """
    try:
        body = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "AccessDenied") and not _listed(s3, obj):
            raise MissingObject(f"{obj.uri}: no such object") from error
        raise
    try:
        return str(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        sample = body[error.start : error.start + 8]
        raise InputFileError(
            f"{obj.uri}: not UTF-8 text (at byte {error.start}: {sample!r})"
        ) from error


def _listed(s3: Any, obj: S3Object) -> bool:
    found = s3.list_objects_v2(Bucket=obj.bucket, Prefix=obj.key, MaxKeys=1).get("Contents", [])
    return bool(found) and found[0]["Key"] == obj.key


def accepted_airports(s3: Any, accepted: S3Object) -> list[tuple[Any, ...]]:
    """The rows of the last airports dimension the airports job accepted (``accept_airports``)."""
    try:
        text = read_text(s3, accepted)
    except MissingObject:
        raise InputFileError(
            f"{accepted.uri}: no airports dimension has been accepted yet; upload one to "
            "dim/airports.csv and let its run succeed"
        ) from None
    return parse_airports(accepted.uri, text)


def accept_airports(s3: Any, accepted: S3Object, text: str) -> None:
    """Keep ``text``, a dimension the airports job has checked and loaded, for the day runs."""
    s3.put_object(
        Bucket=accepted.bucket,
        Key=accepted.key,
        Body=text.encode("utf-8"),
        ContentType="text/csv; charset=utf-8",
    )


@dataclass(frozen=True)
class DayLines:
    """The lines of a day's files as read: ``lines`` is the one cached read (``text_lines``),
    ``numbered`` the same lines as (source, line_number, text), ``layouts`` each file's columns,
    in the order of the sources."""

    lines: DataFrame
    numbered: DataFrame
    layouts: list[Layout]


def read_lines(
    spark: SparkSession, sources: Sequence[str], wanted: Mapping[str, str] = flights.FLIGHT_COLUMNS
) -> DayLines:
    """Read the objects at ``sources`` with Spark's text reader, number their lines and find
    each file's layout; InputFileError for the first file that cannot be read (not UTF-8, no
    header line, a required column missing). A source is a URI as written, not
    percent-encoded: ``s3://bucket/key`` (``S3Object.uri``) or ``file:///path``.

    Spark gets the URIs exactly: no globbing (``__globPaths__``, the option Spark's own file
    stream source uses, so that a key's ``[``, ``*``, ``?`` or ``\\`` is a character), and no
    partition discovery (``recursiveFileLookup``: a ``date=`` directory would become a column,
    and with some keys Spark then lists a file more than once). Hidden names (``_``, ``.``) are
    skipped by Spark as by ``day_objects``.
    """
    reader = spark.read.option("__globPaths__", "false").option("recursiveFileLookup", "true")
    lines = text_lines(reader.text(list(sources))).cache()
    try:
        summaries = {row["file_path"]: row for row in file_summaries(lines).collect()}
        by_source = _by_source(sources, summaries)
        layouts = [file_layout(source, by_source.get(source), wanted) for source in sources]
        numbered = number_lines(lines, split_offsets(spark, by_source))
    except BaseException:
        lines.unpersist()
        raise
    return DayLines(lines, numbered, layouts)


_LOCAL_URI = re.compile(r"^file:/+")


def _by_source(sources: Sequence[str], summaries: Mapping[str, Any]) -> dict[str, Any]:
    """Each summary under the source it was read from. Spark reports a file's URI
    percent-encoded (and a local one as ``file:/x``); a file Spark read that is none of the
    sources is an error, since it would be numbered under no name."""
    wanted = {_LOCAL_URI.sub("file:/", source): source for source in sources}
    found: dict[str, Any] = {}
    for file_path, summary in summaries.items():
        source = wanted.get(_LOCAL_URI.sub("file:/", unquote(file_path)))
        if source is None:
            raise RuntimeError(f"Spark read {file_path}, which is none of {list(sources)}")
        found[source] = summary
    return found


def write_json_lines(frame: DataFrame, prefix: str) -> None:
    """Write ``frame`` as JSON lines under ``prefix`` (part files, by Spark, in parallel),
    replacing what a previous attempt of the same run left there."""
    frame.write.mode("overwrite").json(prefix)


def put_json(s3: Any, target: S3Object, document: dict[str, Any]) -> None:
    s3.put_object(
        Bucket=target.bucket,
        Key=target.key,
        Body=json.dumps(document, indent=2, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )


ACTIVE_RUN_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
# No Glue batch job runs longer than this (its largest timeout): older runs cannot be active.
_LONGEST_RUN = timedelta(days=7)


@dataclass(frozen=True)
class JobRun:
    run_id: str
    started_on: datetime
    state: str
    arguments: dict[str, str]

    @property
    def order(self) -> tuple[datetime, str]:
        """Glue's start time, the run id breaking ties: every run sees the same order."""
        return (self.started_on, self.run_id)


def job_runs(glue: Any, job_name: str) -> list[JobRun]:
    """The runs of ``job_name``; paging stops at a page older than any run can last."""
    runs: list[JobRun] = []
    try:
        for page in glue.get_paginator("get_job_runs").paginate(JobName=job_name):
            page_runs = [
                JobRun(r["Id"], r["StartedOn"], r["JobRunState"], dict(r.get("Arguments") or {}))
                for r in page["JobRuns"]
            ]
            runs.extend(page_runs)
            newest = max((r.started_on for r in runs), default=None)
            if (
                newest
                and page_runs
                and all(r.started_on < newest - _LONGEST_RUN for r in page_runs)
            ):
                break  # newest first, as Glue lists them: the rest are older still
    except glue.exceptions.EntityNotFoundException:
        return []  # no such job: this is a run started by hand
    return runs


def earlier_active_runs(
    glue: Any, job_name: str, run_id: str, argument: str, value: str
) -> list[JobRun] | None:
    """Active runs of ``job_name`` with ``argument`` = ``value`` that started before ``run_id``,
    oldest first; None when ``run_id`` is not a run of ``job_name`` (a run started by hand)."""
    runs = job_runs(glue, job_name)
    mine = next((r for r in runs if r.run_id == run_id), None)
    if mine is None:
        return None
    return sorted(
        (
            r
            for r in runs
            if r.order < mine.order
            and r.state in ACTIVE_RUN_STATES
            and r.arguments.get(argument) == value
        ),
        key=lambda r: r.order,
    )


def wait_for_earlier_runs(
    glue: Any,
    job_name: str,
    run_id: str,
    argument: str,
    value: str,
    log: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    first_poll: float = 0.2,
    longest_poll: float = 5.0,
) -> list[str]:
    """Return once no run of ``job_name`` for the same ``argument`` value that started before
    ``run_id`` is active; the ids of the runs waited for."""
    waited: list[str] = []
    poll = first_poll
    while True:
        earlier = earlier_active_runs(glue, job_name, run_id, argument, value)
        if earlier is None:
            log(f"{run_id} is not a run of job {job_name}: not serialised with other runs")
            return waited
        if not earlier:
            return waited
        new = [r.run_id for r in earlier if r.run_id not in waited]
        if new:
            log(f"waiting for earlier runs of {argument} {value} to end: {', '.join(new)}")
            waited.extend(new)
        sleep(poll)
        poll = min(poll * 1.5, longest_poll)
