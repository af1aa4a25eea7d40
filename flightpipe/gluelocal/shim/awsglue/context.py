"""``awsglue.context.GlueContext`` for the local runtime.

Same constructor and method signatures as AWS's (awslabs/aws-glue-libs ``awsglue/context.py``)
for what the project's jobs use: ``spark_session``, ``create_dynamic_frame.from_catalog``,
``write_dynamic_frame.from_jdbc_conf``, ``extract_jdbc_conf`` and ``get_logger``. The work is
done by ``flightpipe.gluelocal.catalog`` and ``flightpipe.gluelocal.jdbc``.
"""

from __future__ import annotations

import logging
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

from awsglue.dynamicframe import DynamicFrame, DynamicFrameReader, DynamicFrameWriter
from flightpipe.gluelocal import catalog, jdbc
from flightpipe.gluelocal.aws import clients


class GlueLogger:
    """Glue's driver logger (``info``/``warn``/``error``), writing to Python logging."""

    def __init__(self) -> None:
        self._log = logging.getLogger("GlueLogger")

    def info(self, message: str) -> None:
        self._log.info(message)

    def warn(self, message: str) -> None:
        self._log.warning(message)

    def error(self, message: str) -> None:
        self._log.error(message)


class GlueContext:
    def __init__(self, sparkContext: SparkContext, **options: Any):
        self._sc = sparkContext
        self.spark_session = SparkSession(sparkContext)
        self.create_dynamic_frame = DynamicFrameReader(self)
        self.write_dynamic_frame = DynamicFrameWriter(self)
        self._logger = GlueLogger()

    def get_logger(self) -> GlueLogger:
        return self._logger

    def create_dynamic_frame_from_catalog(
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
        if database is None or table_name is None:
            raise Exception("Parameter name_space or database is missing.")
        glue, s3 = clients()
        read = catalog.read_table(
            self.spark_session,
            glue,
            s3,
            database,
            table_name,
            push_down_predicate=push_down_predicate,
            partition_predicate=(additional_options or {}).get("catalogPartitionPredicate", ""),
            catalog_id=catalog_id,
        )
        frame = DynamicFrame(read.frame, self, table_name)
        frame._pending_types = read.typed  # typed on first toDF(); count() needs no types
        return frame

    def write_dynamic_frame_from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict[str, Any] | None = None,
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> None:
        glue, s3 = clients()
        jdbc.write_frame(
            frame.toDF(),
            glue,
            s3,
            catalog_connection,
            connection_options or {},
            redshift_tmp_dir=redshift_tmp_dir,
            catalog_id=catalog_id,
        )

    def extract_jdbc_conf(
        self, connection_name: str, catalog_id: str | None = None
    ) -> dict[str, str]:
        glue, _ = clients()
        return jdbc.connection_conf(glue, connection_name, catalog_id).as_glue_dict()
