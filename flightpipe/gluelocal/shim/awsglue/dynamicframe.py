"""``awsglue.dynamicframe``: DynamicFrame and its reader/writer, over a Spark DataFrame.

Glue's DynamicFrame is self-describing records in the JVM; locally it wraps a DataFrame whose
column types were inferred from the values when read (see ``flightpipe.gluelocal.catalog``).
Signatures and defaults are AWS's (AWSGlueDataplanePython 5.0.0, ``awsglue/dynamicframe.py``),
pinned by tests/unit/test_awsglue_conformance.py; only what the project's jobs use is here
(``fromDF``, ``toDF``, ``count``, ``from_catalog``, ``from_jdbc_conf``), so a job that needs
more fails locally before it can surprise anyone on AWS.
"""

from __future__ import annotations

import typing

from pyspark.sql.dataframe import DataFrame

if typing.TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class DynamicFrame:
    def __init__(self, jdf: DataFrame, glue_ctx: Any, name: str = ""):
        if not isinstance(jdf, DataFrame):
            raise TypeError(f"local DynamicFrame wraps a pyspark DataFrame, got {type(jdf)}")
        self._df = jdf
        self._pending_types: Callable[[], DataFrame] | None = None
        self.glue_ctx = glue_ctx
        # As AWS's: anything but a GlueContext (an SQLContext) fails here, on _ssql_ctx.
        self._ssql_ctx = glue_ctx._ssql_ctx
        self._sc = glue_ctx._sc
        self.name = name

    @classmethod
    def fromDF(cls, dataframe: DataFrame, glue_ctx: Any, name: str = "") -> DynamicFrame:
        return DynamicFrame(dataframe, glue_ctx, name)

    def toDF(self, options: Any = None) -> DataFrame:
        """The frame as a DataFrame. AWS's ``options`` are ``ResolveOption`` choices; a local
        column never holds a choice type, so none are taken."""
        if options:
            raise NotImplementedError("toDF(options) (ResolveOption) is not available locally")
        if self._pending_types is not None:
            self._df, self._pending_types = self._pending_types(), None
        return self._df

    def count(self) -> int:
        return self._df.count()


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
        additional_options: dict[str, Any] = {},  # noqa: B006 -- AWS's default; never mutated
        catalog_id: str | None = None,
        **kwargs: Any,
    ) -> DynamicFrame:
        """Read a Data Catalog table; ``name_space`` is AWS's other spelling of ``database``,
        and the remaining keyword options are what AWS hands to the frame's source
        (``minPartitions``, ``targetPartitions``)."""
        if "name_space" in kwargs:
            if database is not None:
                raise Exception("Parameter name_space and database are both specified, choose one.")
            db = kwargs.pop("name_space")
        elif database is None:
            raise Exception("Parameter name_space or database is missing.")
        else:
            db = database
        if table_name is None:
            raise Exception("Parameter table_name is missing.")
        frame: DynamicFrame = self._glue_context.create_dynamic_frame_from_catalog(
            db,
            table_name,
            redshift_tmp_dir,
            transformation_ctx,
            push_down_predicate,
            additional_options,
            catalog_id,
            **kwargs,
        )
        return frame


class DynamicFrameWriter:
    def __init__(self, glue_context: Any):
        self._glue_context = glue_context

    def from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict[str, Any] = {},  # noqa: B006 -- AWS's default; never mutated
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
    ) -> None:
        """Write through a Glue connection (``GlueContext.write_dynamic_frame_from_jdbc_conf``)."""
        self._glue_context.write_dynamic_frame_from_jdbc_conf(
            frame, catalog_connection, connection_options, redshift_tmp_dir, transformation_ctx
        )
