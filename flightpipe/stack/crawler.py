"""A Glue crawler over CSV data in S3, for the local stack.

moto keeps crawler definitions but never crawls. This module does what a Glue crawler with the
built-in CSV classifier does for the layouts this project uses, through the Glue and S3 APIs
(boto3, so it works against any endpoint):

* each S3 target path is listed; names starting with ``_`` or ``.``, empty objects, objects
  matching an exclusion glob and objects that are not ``.csv`` are skipped (and reported);
* objects are grouped into tables: the target path is one table when its objects sit directly
  in it or in ``key=value`` folders, otherwise each first-level folder is a table;
* ``key=value`` folders become partition keys (type string) and partitions;
* the schema comes from each file's header (names lowercased, as Glue does) and a sample of its
  rows: ``bigint`` when every sampled value is an integer, ``double`` when a number, else
  ``string``; files of one table are merged (new columns appended, types widened);
* the table is created, or updated when the schema change policy says UPDATE_IN_DATABASE;
  new partitions are added, existing ones left as they are (AWS's default behaviour).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

SAMPLE_BYTES = 1 << 20
_INTEGER = re.compile(r"^\s*[+-]?[0-9]{1,18}\s*$")
_NUMBER = re.compile(r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$")
_PARTITION = re.compile(r"^([^=/]+)=([^/]*)$")
_WIDER = {"bigint": 0, "double": 1, "string": 2}
BOM = "\ufeff"

SERDE = {
    "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    "Parameters": {"field.delim": ","},
}
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"


class CrawlError(RuntimeError):
    """The crawl could not finish; the message is what GetCrawler reports."""


@dataclass
class TableFiles:
    """Objects making up one table, with their partition values."""

    name: str
    location: str
    partition_keys: list[str] = field(default_factory=list)
    files: list[tuple[str, str, tuple[str, ...]]] = field(
        default_factory=list
    )  # bucket, key, values


@dataclass
class CrawlSummary:
    tables_created: list[str] = field(default_factory=list)
    tables_updated: list[str] = field(default_factory=list)
    partitions_created: int = 0
    skipped: list[str] = field(default_factory=list)


def crawl(glue: Any, s3: Any, crawler: dict[str, Any]) -> CrawlSummary:
    """Crawl the S3 targets of ``crawler`` (a GetCrawler ``Crawler``) into its database."""
    database = crawler.get("DatabaseName")
    if not database:
        raise CrawlError(f"crawler {crawler['Name']} has no DatabaseName")
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException as error:
        raise CrawlError(f"database {database} does not exist") from error
    prefix = crawler.get("TablePrefix") or ""
    update = (crawler.get("SchemaChangePolicy") or {}).get("UpdateBehavior", "UPDATE_IN_DATABASE")
    summary = CrawlSummary()
    for target in (crawler.get("Targets") or {}).get("S3Targets", []):
        for table in _tables(s3, target, summary):
            _store(glue, s3, database, prefix, table, update, crawler["Name"], summary)
    return summary


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise CrawlError(f"S3 target {uri!r} is not an s3:// path")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _tables(s3: Any, target: dict[str, Any], summary: CrawlSummary) -> Iterable[TableFiles]:
    bucket, root = _split(target["Path"])
    root = root.rstrip("/") + "/" if root else ""
    exclusions = target.get("Exclusions", [])
    tables: dict[str, TableFiles] = {}
    flat = _is_one_table(s3, bucket, root)
    for item in _objects(s3, bucket, root):
        key = item["Key"]
        relative = key[len(root) :]
        name = relative.rsplit("/", 1)[-1]
        if not name or name.startswith(("_", ".")) or item["Size"] == 0:
            continue
        if any(fnmatch.fnmatch(relative, pattern) for pattern in exclusions):
            continue
        if not name.lower().endswith(".csv"):
            summary.skipped.append(f"s3://{bucket}/{key}: not a CSV object")
            continue
        folders = relative.split("/")[:-1]
        if flat:
            table_name, table_root, partition_folders = _table_name(root), root, folders
        elif folders:
            table_name, table_root, partition_folders = (
                folders[0],
                f"{root}{folders[0]}/",
                folders[1:],
            )
        else:
            summary.skipped.append(f"s3://{bucket}/{key}: beside table folders")
            continue
        parsed = [_PARTITION.match(folder) for folder in partition_folders]
        if not all(parsed):
            summary.skipped.append(f"s3://{bucket}/{key}: folders are not key=value partitions")
            continue
        keys = [m.group(1).lower() for m in parsed if m]
        table = tables.setdefault(
            table_root, TableFiles(_clean(table_name), f"s3://{bucket}/{table_root}", keys)
        )
        if keys != table.partition_keys:
            summary.skipped.append(
                f"s3://{bucket}/{key}: partition keys differ from {table.partition_keys}"
            )
            continue
        table.files.append((bucket, key, tuple(m.group(2) for m in parsed if m)))
    return tables.values()


def _is_one_table(s3: Any, bucket: str, root: str) -> bool:
    """Whether the target path itself is the table (files or partitions right under it)."""
    try:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=root, Delimiter="/")
    except s3.exceptions.NoSuchBucket as error:
        raise CrawlError(f"S3 target bucket {bucket} does not exist") from error
    if listing.get("Contents"):
        return any(not i["Key"].endswith("/") for i in listing["Contents"])
    folders = [p["Prefix"][len(root) :].rstrip("/") for p in listing.get("CommonPrefixes", [])]
    return bool(folders) and all(_PARTITION.match(f) for f in folders)


def _table_name(root: str) -> str:
    return root.rstrip("/").rsplit("/", 1)[-1] or "root"


def _clean(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def _sample(s3: Any, bucket: str, key: str) -> list[list[str]]:
    body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{SAMPLE_BYTES - 1}")["Body"].read()
    text = body.decode("utf-8", errors="replace").removeprefix(BOM)
    lines = text.splitlines()
    if len(body) >= SAMPLE_BYTES and lines:
        lines = lines[:-1]  # the last line may be cut by the range
    return [row for row in csv.reader(io.StringIO("\n".join(lines))) if any(f.strip() for f in row)]


def _schema(rows: list[list[str]]) -> list[tuple[str, str]]:
    header = [name.strip().lower() or f"col{i}" for i, name in enumerate(rows[0])]
    columns = []
    for index, name in enumerate(header):
        values = [r[index].strip() for r in rows[1:] if index < len(r) and r[index].strip()]
        if values and all(_INTEGER.match(v) for v in values):
            kind = "bigint"
        elif values and all(_NUMBER.match(v) for v in values):
            kind = "double"
        else:
            kind = "string"
        columns.append((name, kind))
    return columns


def _merge(into: list[tuple[str, str]], more: list[tuple[str, str]]) -> list[tuple[str, str]]:
    merged = dict(into)
    for name, kind in more:
        if name not in merged or _WIDER[kind] > _WIDER[merged[name]]:
            merged[name] = kind
    return list(merged.items())


def _store(
    glue: Any,
    s3: Any,
    database: str,
    prefix: str,
    table: TableFiles,
    update: str,
    crawler_name: str,
    summary: CrawlSummary,
) -> None:
    columns: list[tuple[str, str]] = []
    for bucket, key, _ in table.files:
        rows = _sample(s3, bucket, key)
        if rows:
            columns = _merge(columns, _schema(rows))
    if not columns:
        summary.skipped.append(f"{table.location}: no CSV header in any file")
        return
    name = prefix + table.name
    table_input = {
        "Name": name,
        "StorageDescriptor": _descriptor(columns, table.location),
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in table.partition_keys],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "csv",
            "delimiter": ",",
            "skip.header.line.count": "1",
            "columnsOrdered": "true",
            "areColumnsQuoted": "false",
            "typeOfData": "file",
            "compressionType": "none",
            "UPDATED_BY_CRAWLER": crawler_name,
            "objectCount": str(len(table.files)),
        },
    }
    try:
        glue.get_table(DatabaseName=database, Name=name)
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=table_input)
        summary.tables_created.append(name)
    else:
        if update == "UPDATE_IN_DATABASE":
            glue.update_table(DatabaseName=database, TableInput=table_input)
            summary.tables_updated.append(name)
    if table.partition_keys:
        summary.partitions_created += _add_partitions(glue, database, name, table, columns)


def _descriptor(columns: list[tuple[str, str]], location: str) -> dict[str, Any]:
    return {
        "Columns": [{"Name": n, "Type": t} for n, t in columns],
        "Location": location,
        "InputFormat": INPUT_FORMAT,
        "OutputFormat": OUTPUT_FORMAT,
        "SerdeInfo": SERDE,
        "Parameters": {"skip.header.line.count": "1", "classification": "csv"},
    }


def _add_partitions(
    glue: Any, database: str, table: str, files: TableFiles, columns: list[tuple[str, str]]
) -> int:
    existing: set[tuple[str, ...]] = set()
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=table
    ):
        existing.update(tuple(p["Values"]) for p in page["Partitions"])
    wanted = sorted({values for _, _, values in files.files} - existing)
    for start in range(0, len(wanted), 100):
        batch = [
            {
                "Values": list(values),
                "StorageDescriptor": _descriptor(
                    columns,
                    files.location
                    + "".join(
                        f"{k}={v}/" for k, v in zip(files.partition_keys, values, strict=True)
                    ),
                ),
            }
            for values in wanted[start : start + 100]
        ]
        result = glue.batch_create_partition(
            DatabaseName=database, TableName=table, PartitionInputList=batch
        )
        errors = [
            e
            for e in result.get("Errors", [])
            if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
        ]
        if errors:
            raise CrawlError(f"adding partitions to {database}.{table}: {errors[0]['ErrorDetail']}")
    return len(wanted)
