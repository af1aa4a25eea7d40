"""``awsglue.dynamicframe``: DynamicFrame and its reader/writer, over a Spark DataFrame.

Glue's DynamicFrame is self-describing records in the JVM; locally it wraps a DataFrame whose
column types were inferred from the values when read (see ``flightpipe.gluelocal.catalog``).
Signatures follow awslabs/aws-glue-libs ``awsglue/dynamicframe.py``; ``schema()`` returns
PySpark's StructType where Glue returns its own ``gluetypes`` one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType


def _paths(paths: str | Sequence[str]) -> list[str]:
    return [paths] if isinstance(paths, str) else list(paths)


class DynamicFrame:
    def __init__(self, jdf: DataFrame, glue_ctx: Any, name: str = ""):
        if not isinstance(jdf, DataFrame):
            raise TypeError(f"local DynamicFrame wraps a pyspark DataFrame, got {type(jdf)}")
        self._df = jdf
        self._pending_types: Callable[[], DataFrame] | None = None
        self.glue_ctx = glue_ctx
        self.name = name

    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx: Any, name: str) -> DynamicFrame:
        return cls(dataframe, glue_ctx, name)

    def toDF(self, options: Any = None) -> DataFrame:
        if self._pending_types is not None:
            self._df, self._pending_types = self._pending_types(), None
        return self._df

    def _derive(self, df: DataFrame) -> DynamicFrame:
        return DynamicFrame(df, self.glue_ctx, self.name)

    def count(self) -> int:
        return self._df.count()

    def schema(self) -> StructType:
        return self.toDF().schema

    def show(self, num_rows: int = 20) -> None:
        self.toDF().show(num_rows)

    def printSchema(self) -> None:
        self.toDF().printSchema()

    def getNumPartitions(self) -> int:
        return self.toDF().rdd.getNumPartitions()

    def repartition(
        self,
        num_partitions: int,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return self._derive(self.toDF().repartition(num_partitions))

    def coalesce(
        self,
        num_partitions: int,
        shuffle: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        df = (
            self.toDF().repartition(num_partitions)
            if shuffle
            else self.toDF().coalesce(num_partitions)
        )
        return self._derive(df)

    def select_fields(
        self,
        paths: str | Sequence[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        wanted = [p for p in _paths(paths) if p in self.toDF().columns]
        return self._derive(self.toDF().select(*wanted))

    def drop_fields(
        self,
        paths: str | Sequence[str],
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return self._derive(self.toDF().drop(*_paths(paths)))

    def rename_field(
        self,
        oldName: str,
        newName: str,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        return self._derive(self.toDF().withColumnRenamed(oldName, newName))

    def apply_mapping(
        self,
        mappings: Any,
        case_sensitive: bool = False,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
    ) -> DynamicFrame:
        """Keep, rename and cast the mapped columns; unmapped columns are dropped, as on Glue."""
        if isinstance(mappings, tuple):
            mappings = [mappings]
        columns = []
        lookup = {c if case_sensitive else c.lower(): c for c in self.toDF().columns}
        for mapping in mappings:
            if not isinstance(mapping, tuple):
                raise TypeError("Mapping must be specified as a tuple. Got " + str(mapping))
            if len(mapping) not in (2, 3, 4):
                raise ValueError(
                    "Mapping tuple must be of length 2, 3, or 4Got tuple of length "
                    + str(len(mapping))
                )
            source, target = mapping[0], mapping[-2] if len(mapping) == 4 else mapping[-1]
            target_type = mapping[3] if len(mapping) == 4 else None
            name = lookup.get(source if case_sensitive else source.lower())
            if name is None:
                continue
            column = F.col(f"`{name}`")
            if target_type:
                column = column.cast(target_type)
            columns.append(column.alias(target))
        return self._derive(self.toDF().select(*columns))

    applyMapping = apply_mapping

    def resolveChoice(
        self,
        specs: Any = None,
        choice: str = "",
        database: str | None = None,
        table_name: str | None = None,
        transformation_ctx: str = "",
        info: str = "",
        stageThreshold: int = 0,
        totalThreshold: int = 0,
        catalog_id: str | None = None,
    ) -> DynamicFrame:
        """``cast:<type>`` specs; locally a column never holds a choice, so that is all there is."""
        if specs is None and not choice:
            raise Exception("Parameter specs and option are both missing, add one.")
        if specs is not None and choice:
            raise Exception("Parameter specs and option are both specified, choose one.")
        specs = (
            [specs]
            if isinstance(specs, tuple)
            else specs or [(c, choice) for c in self.toDF().columns]
        )
        df = self.toDF()
        for path, action in specs:
            if not action.startswith("cast:"):
                raise NotImplementedError(
                    f"local resolveChoice supports cast:<type>, not {action!r}"
                )
            df = df.withColumn(path, F.col(f"`{path}`").cast(action.split(":", 1)[1]))
        return self._derive(df)


class DynamicFrameReader:
    def __init__(self, glue_context: Any):
        self._glue_context = glue_context

    def from_catalog(
        self,
        database: str | None = None,
        table_name: str | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        push_down_predicate: str = "",
        additional_options: dict[str, Any] | None = None,
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        if database is not None and "name_space" in kwargs:
            raise Exception("Parameter name_space and database are both specified, choose one.")
        if database is None and "name_space" not in kwargs:
            raise Exception("Parameter name_space or database is missing.")
        if table_name is None:
            raise Exception("Parameter table_name is missing.")
        return self._glue_context.create_dynamic_frame_from_catalog(
            database or kwargs["name_space"],
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            push_down_predicate,
            additional_options or {},
            catalog_id,
        )


class DynamicFrameWriter:
    def __init__(self, glue_context: Any):
        self._glue_context = glue_context

    def from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict[str, Any] | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
    ) -> None:
        return self._glue_context.write_dynamic_frame_from_jdbc_conf(
            frame,
            catalog_connection,
            connection_options or {},
            redshift_tmp_dir,
            transformation_ctx,
        )
