"""S3 and Data Catalog I/O of the delayed-flights Glue job, through boto3.

The job reads whole objects and keeps their lines itself (see ``flight_transforms``), so the
bytes come through boto3 rather than a Spark file reader: that gives the exact text, works the
same on AWS Glue and against a local endpoint (boto3 honours ``AWS_ENDPOINT_URL``), and keeps
the job free of a Hadoop S3 connector. A day file is tens of megabytes at most; each object
becomes one row that Spark splits into lines.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flight_transforms import InputFileError


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


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


def read_text(s3: Any, obj: S3Object) -> str:
    """An object's content decoded as UTF-8; InputFileError naming the object otherwise."""
    try:
        body = s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read()
    except s3.exceptions.NoSuchKey as error:
        raise InputFileError(f"{obj.uri}: no such object") from error
    try:
        return str(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        sample = body[error.start : error.start + 8]
        raise InputFileError(
            f"{obj.uri}: not UTF-8 text (at byte {error.start}: {sample!r})"
        ) from error


def put_json_lines(s3: Any, target: S3Object, records: Iterator[dict[str, Any]]) -> int:
    """Stream records to one JSON-lines object (through a temporary file); returns the count."""
    count = 0
    with tempfile.TemporaryFile() as spool:
        for record in records:
            spool.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
        spool.seek(0)
        s3.upload_fileobj(
            spool, target.bucket, target.key, ExtraArgs={"ContentType": "application/x-ndjson"}
        )
    return count


def put_json(s3: Any, target: S3Object, document: dict[str, Any]) -> None:
    s3.put_object(
        Bucket=target.bucket,
        Key=target.key,
        Body=json.dumps(document, indent=2, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )
