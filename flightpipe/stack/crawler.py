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

``RecrawlPolicy`` is honoured as AWS documents it ("Scheduling incremental crawls for adding new
partitions", https://docs.aws.amazon.com/glue/latest/dg/incremental-crawls.html):
``CRAWL_EVERYTHING`` (the default) reads every object; ``CRAWL_NEW_FOLDERS_ONLY`` reads only the
folders the last successful crawl did not list (a new file in a known folder is not crawled),
creates or changes no table, and adds a new folder as a partition only when it has every column
of the table; ``CRAWL_EVENT_MODE`` is refused (the local stack feeds crawlers no events).
``check_policies`` refuses what CreateCrawler refuses. What the pipeline relies on:
docs/behaviour.md ("Crawls"), docs/decisions/crawl-new-folders-only.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flightpipe.gluelocal.aws import s3_location

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


CRAWL_EVERYTHING = "CRAWL_EVERYTHING"
CRAWL_NEW_FOLDERS_ONLY = "CRAWL_NEW_FOLDERS_ONLY"
CRAWL_EVENT_MODE = "CRAWL_EVENT_MODE"
# AWS's InvalidInputException messages for a new-folders-only crawler, as CreateCrawler and
# UpdateCrawler answer them (quoted from AWS's answers in hashicorp/terraform-provider-aws#22868
# and LBHackney-IT/Data-Platform#2418).
ONLY_S3_TARGETS = 'RecrawlBehavior "Crawl new folders only" can only apply to Amazon S3 target.'
ONLY_LOG_POLICY = (
    'The SchemaChangePolicy for "Crawl new folders only" Amazon S3 target can have only LOG '
    "DeleteBehavior value and LOG UpdateBehavior value."
)


class CrawlError(RuntimeError):
    """The crawl could not finish; the message is what GetCrawler reports."""


class CrawlerPolicyError(ValueError):
    """A crawler definition AWS refuses (InvalidInputException), with AWS's message."""


def recrawl_behavior(crawler: Mapping[str, Any]) -> str:
    """The crawler's RecrawlBehavior; AWS's default when it has none."""
    return str((crawler.get("RecrawlPolicy") or {}).get("RecrawlBehavior") or CRAWL_EVERYTHING)


def check_policies(crawler: Mapping[str, Any]) -> None:
    """Refuse a recrawl policy as CreateCrawler refuses it (``crawler`` as GetCrawler answers).

    A new-folders-only crawler must crawl S3 targets only, with UpdateBehavior and
    DeleteBehavior both LOG (AWS's defaults, UPDATE_IN_DATABASE and DEPRECATE_IN_DATABASE, are
    refused too); event mode is refused because the local stack cannot feed it events.
    """
    behavior = recrawl_behavior(crawler)
    if behavior == CRAWL_EVENT_MODE:
        raise CrawlerPolicyError(
            "the local crawler does not implement CRAWL_EVENT_MODE (it reads Amazon S3 events "
            "from the target's SQS queue, which the local stack does not feed)"
        )
    if behavior not in (CRAWL_EVERYTHING, CRAWL_NEW_FOLDERS_ONLY):
        raise CrawlerPolicyError(f"RecrawlBehavior {behavior!r} is not a valid value")
    if behavior != CRAWL_NEW_FOLDERS_ONLY:
        return
    targets = crawler.get("Targets") or {}
    if not targets.get("S3Targets") or any(v for k, v in targets.items() if k != "S3Targets"):
        raise CrawlerPolicyError(ONLY_S3_TARGETS)
    policy = crawler.get("SchemaChangePolicy") or {}
    if (policy.get("UpdateBehavior"), policy.get("DeleteBehavior")) != ("LOG", "LOG"):
        raise CrawlerPolicyError(ONLY_LOG_POLICY)


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
    incremental: bool = False
    objects_read: int = 0
    # Every folder the crawl listed (s3://bucket/prefix/): what the next incremental crawl knows.
    folders: set[str] = field(default_factory=set)


def crawl(
    glue: Any, s3: Any, crawler: dict[str, Any], known_folders: frozenset[str] | None = None
) -> CrawlSummary:
    """Crawl the S3 targets of ``crawler`` (a GetCrawler ``Crawler``) into its database.

    ``known_folders`` are the folders the crawler's last successful crawl listed (its
    ``summary.folders``), None before its first: with ``CRAWL_NEW_FOLDERS_ONLY`` only objects in
    other folders are read.
    """
    try:
        check_policies(crawler)
    except CrawlerPolicyError as error:
        raise CrawlError(str(error)) from error
    database = crawler.get("DatabaseName")
    if not database:
        raise CrawlError(f"crawler {crawler['Name']} has no DatabaseName")
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException as error:
        raise CrawlError(f"database {database} does not exist") from error
    prefix = crawler.get("TablePrefix") or ""
    update = (crawler.get("SchemaChangePolicy") or {}).get("UpdateBehavior", "UPDATE_IN_DATABASE")
    incremental = recrawl_behavior(crawler) == CRAWL_NEW_FOLDERS_ONLY and known_folders is not None
    summary = CrawlSummary(incremental=incremental)
    skip = known_folders if incremental and known_folders is not None else frozenset()
    for target in (crawler.get("Targets") or {}).get("S3Targets", []):
        for table in _tables(s3, target, summary, skip):
            if incremental:
                _add_new_folders(glue, s3, database, prefix + table.name, table, summary)
            else:
                _store(glue, s3, database, prefix, table, update, crawler["Name"], summary)
    return summary


def _split(uri: str) -> tuple[str, str]:
    try:
        return s3_location(uri)
    except ValueError:
        raise CrawlError(f"S3 target {uri!r} is not an s3:// path") from None


def _objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _tables(
    s3: Any, target: dict[str, Any], summary: CrawlSummary, known_folders: frozenset[str]
) -> Iterable[TableFiles]:
    """The target's objects grouped into tables; objects in ``known_folders`` are left out (an
    incremental crawl), and every folder listed is added to ``summary.folders``."""
    bucket, root = _split(target["Path"])
    root = root.rstrip("/") + "/" if root else ""
    exclusions = target.get("Exclusions", [])
    tables: dict[str, TableFiles] = {}
    flat = _is_one_table(s3, bucket, root)
    for item in _objects(s3, bucket, root):
        key = item["Key"]
        folder = f"s3://{bucket}/{key.rsplit('/', 1)[0]}/" if "/" in key else f"s3://{bucket}/"
        summary.folders.add(folder)
        if folder in known_folders:
            continue
        relative = key[len(root) :]
        name = relative.rsplit("/", 1)[-1]
        if not name or name.startswith(("_", ".")) or item["Size"] == 0:
            continue
        if any(excluded(relative, pattern) for pattern in exclusions):
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


def excluded(relative: str, pattern: str) -> bool:
    """Whether an exclude pattern matches a key relative to the include path, as AWS Glue's
    crawler matches it ("Include and exclude patterns", AWS Glue Developer Guide): ``*`` and
    ``?`` stay within a name component, ``**`` crosses folders, ``[...]`` (``!`` negates) is one
    character of a component, ``{a,b}`` matches either, ``\\`` escapes; a leading dot is an
    ordinary character. (Python's ``fnmatch`` lets ``*`` cross folders: it would exclude keys
    that AWS's crawler reads.)"""
    return re.fullmatch(_glob_regex(pattern), relative) is not None


def _glob_regex(pattern: str) -> str:
    out, i, braces = [], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            escaped = "".join("\\" + c if c in "\\^]" else c for c in body)
            out.append(f"[^/{escaped}]" if negated else f"(?!/)[{escaped}]")
            i = end + 1
            continue
        elif char == "{":
            braces += 1
            out.append("(?:")
        elif char == "}" and braces:
            braces -= 1
            out.append(")")
        elif char == "," and braces:
            out.append("|")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


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


def _sample(s3: Any, bucket: str, key: str, summary: CrawlSummary) -> list[list[str]]:
    summary.objects_read += 1
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
        rows = _sample(s3, bucket, key, summary)
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
    return _create_partitions(
        glue,
        database,
        table,
        [
            {
                "Values": list(values),
                "StorageDescriptor": _descriptor(columns, _where(files, values)),
            }
            for values in wanted
        ],
    )


def _where(files: TableFiles, values: tuple[str, ...]) -> str:
    """The S3 location of one partition of the table."""
    return files.location + "".join(
        f"{k}={v}/" for k, v in zip(files.partition_keys, values, strict=True)
    )


def _create_partitions(
    glue: Any, database: str, table: str, partitions: list[dict[str, Any]]
) -> int:
    """Create ``partitions`` (PartitionInput) in batches; those that exist already are left as
    they are. How many were created."""
    created = 0
    for start in range(0, len(partitions), 100):
        batch = partitions[start : start + 100]
        result = glue.batch_create_partition(
            DatabaseName=database, TableName=table, PartitionInputList=batch
        )
        errors = result.get("Errors", [])
        failed = [e for e in errors if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
        if failed:
            raise CrawlError(f"adding partitions to {database}.{table}: {failed[0]['ErrorDetail']}")
        created += len(batch) - len(errors)
    return created


def _add_new_folders(
    glue: Any, s3: Any, database: str, name: str, table: TableFiles, summary: CrawlSummary
) -> None:
    """An incremental crawl of one table: its new folders become partitions, each with the
    columns found in it, when compatible with the table; the table itself is left as it is
    (AWS forces LOG) and no table is created."""
    if not table.files:
        return
    try:
        existing = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        summary.skipped.append(
            f"{table.location}: no table {name} in the catalog, and an incremental crawl "
            "adds no tables (run a full crawl)"
        )
        return
    keys = [k["Name"] for k in existing.get("PartitionKeys", [])]
    if not keys or keys != table.partition_keys:
        summary.skipped.append(
            f"{table.location}: new folders are partitions {table.partition_keys}, "
            f"table {name} has {keys}; not added"
        )
        return
    table_columns = {c["Name"] for c in existing.get("StorageDescriptor", {}).get("Columns", [])}
    found: dict[tuple[str, ...], list[tuple[str, str]]] = {}
    for bucket, key, values in table.files:
        rows = _sample(s3, bucket, key, summary)
        found[values] = (
            _merge(found.get(values, []), _schema(rows)) if rows else found.get(values, [])
        )
    partitions = []
    for values, columns in sorted(found.items()):
        location = _where(table, values)
        missing = sorted(table_columns - {column for column, _ in columns})
        if not columns:
            summary.skipped.append(f"{location}: no CSV header in any file")
        elif missing:
            summary.skipped.append(
                f"{location}: schema not compatible with table {name} (no column "
                f"{', '.join(missing)}); not added"
            )
        else:
            partitions.append(
                {"Values": list(values), "StorageDescriptor": _descriptor(columns, location)}
            )
    summary.partitions_created += _create_partitions(glue, database, name, partitions)
