"""Reading a Data Catalog table locally, as ``GlueContext.create_dynamic_frame.from_catalog`` does.

The table, its partitions and their S3 locations come from the Glue API; ``push_down_predicate``
is a Spark SQL expression over the partition columns, evaluated here by Spark on the partition
values exactly as Glue evaluates it before reading any object; ``catalogPartitionPredicate`` is
passed to GetPartitions as its ``Expression``. Matching objects are downloaded (Spark has no S3
connector without Hadoop's AWS jars) and read with the table's CSV SerDe settings. As with a
Glue DynamicFrame, column types come from the values, not from the catalog: a column whose
every value is an integer is a long, a number a double, anything else a string (where Glue
would report a choice type, this reports a string).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from flightpipe.gluelocal.aws import s3_location, scratch_dir

_LONG = r"^\s*[+-]?[0-9]{1,18}\s*$"
_DOUBLE = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"


class CatalogReadError(RuntimeError):
    """The catalog table cannot be read as the local runtime reads tables."""


@dataclass(frozen=True)
class CatalogRead:
    """A table's rows as read (all strings) and its data (non-partition) columns."""

    frame: DataFrame
    data_columns: tuple[str, ...]

    def typed(self) -> DataFrame:
        """The rows with each data column typed from its values (one pass over the data)."""
        return infer_types(self.frame, list(self.data_columns))


def read_table(
    spark: SparkSession,
    glue: Any,
    s3: Any,
    database: str,
    table: str,
    push_down_predicate: str = "",
    partition_predicate: str = "",
    catalog_id: str | None = None,
) -> CatalogRead:
    """The table's rows (all matching partitions), partition columns last."""
    ids = {"CatalogId": catalog_id} if catalog_id else {}
    definition = glue.get_table(DatabaseName=database, Name=table, **ids)["Table"]
    descriptor = definition["StorageDescriptor"]
    columns = [c["Name"] for c in descriptor.get("Columns", [])]
    keys = [k["Name"] for k in definition.get("PartitionKeys", [])]
    _check_format(definition, database, table)

    if keys:
        partitions = _partitions(glue, database, table, partition_predicate, ids)
        chosen = _matching(spark, keys, partitions, push_down_predicate)
    else:
        chosen = [([], descriptor["Location"])]

    options = _csv_options(definition)
    frames = []
    for values, location in chosen:
        files = _download(s3, location)
        if not files:
            continue
        frame = spark.read.csv([str(f) for f in files], schema=_string_schema(columns), **options)
        for key, value in zip(keys, values, strict=True):
            frame = frame.withColumn(key, F.lit(value))
        frames.append(frame)
    if not frames:
        return CatalogRead(spark.createDataFrame([], _string_schema([*columns, *keys])), ())
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return CatalogRead(result, tuple(columns))


def _check_format(definition: dict[str, Any], database: str, table: str) -> None:
    params = definition.get("Parameters", {})
    serde = definition["StorageDescriptor"].get("SerdeInfo", {}).get("SerializationLibrary", "")
    classification = params.get("classification", "csv")
    if classification != "csv" and "LazySimpleSerDe" not in serde and "OpenCSVSerde" not in serde:
        raise CatalogReadError(
            f"{database}.{table}: the local Glue runtime reads CSV tables only "
            f"(classification {classification!r}, SerDe {serde!r})"
        )


def _partitions(
    glue: Any, database: str, table: str, expression: str, ids: dict[str, str]
) -> list[tuple[list[str], str]]:
    paginator = glue.get_paginator("get_partitions")
    extra = {"Expression": expression} if expression else {}
    found = []
    for page in paginator.paginate(DatabaseName=database, TableName=table, **extra, **ids):
        for partition in page["Partitions"]:
            found.append((partition["Values"], partition["StorageDescriptor"]["Location"]))
    return found


def _matching(
    spark: SparkSession,
    keys: list[str],
    partitions: list[tuple[list[str], str]],
    predicate: str,
) -> list[tuple[list[str], str]]:
    if not predicate.strip() or not partitions:
        return partitions
    rows = [(*values, location) for values, location in partitions]
    frame = spark.createDataFrame(rows, _string_schema([*keys, "__location"]))
    matched = frame.where(F.expr(predicate)).collect()
    return [([row[k] for k in keys], row["__location"]) for row in matched]


def _csv_options(definition: dict[str, Any]) -> dict[str, Any]:
    """Spark CSV options from the SerDe, storage descriptor and table parameters (crawlers
    write ``skip.header.line.count`` to the table and the storage descriptor)."""
    descriptor = definition["StorageDescriptor"]
    params = {
        **definition.get("Parameters", {}),
        **descriptor.get("Parameters", {}),
        **descriptor.get("SerdeInfo", {}).get("Parameters", {}),
    }
    separator = params.get("separatorChar") or params.get("field.delim") or ","
    header = params.get("skip.header.line.count")
    return {
        "sep": separator,
        "quote": params.get("quoteChar", '"'),
        "header": header == "1",
        "mode": "PERMISSIVE",
    }


def _download(s3: Any, location: str) -> list[Path]:
    bucket, prefix = s3_location(location)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    target = scratch_dir("catalog-")
    files: list[Path] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            name = relative.rsplit("/", 1)[-1]
            if not name or name.startswith(("_", ".")) or item["Size"] == 0:
                continue
            # Numbered, not named after the key: a key may be longer than a file name may be,
            # or hold characters a file system refuses (Glue reads S3 directly).
            path = target / f"object-{len(files):06d}"
            s3.download_file(bucket, item["Key"], str(path))
            files.append(path)
    return files


def _string_schema(columns: list[str]) -> str:
    return ", ".join(f"`{c}` STRING" for c in columns)


def infer_types(frame: DataFrame, columns: list[str]) -> DataFrame:
    """Cast each column to long or double when every present value is one."""
    if not columns:
        return frame
    checks = []
    for c in columns:
        value = F.col(f"`{c}`")
        present = value.isNotNull() & (F.trim(value) != "")
        checks.append(F.bool_and(~present | value.rlike(_LONG)).alias(f"long:{c}"))
        checks.append(F.bool_and(~present | value.rlike(_DOUBLE)).alias(f"double:{c}"))
    verdict = frame.agg(*checks).first()
    if verdict is None:
        return frame
    casts = []
    for c in frame.columns:
        column = F.col(f"`{c}`")
        if c in columns and verdict[f"long:{c}"]:
            column = column.cast("long")
        elif c in columns and verdict[f"double:{c}"]:
            column = column.cast("double")
        casts.append(column.alias(c))
    return frame.select(*casts)
