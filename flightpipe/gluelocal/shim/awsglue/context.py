"""``awsglue.context.GlueContext`` for the local runtime.

As AWS's (AWSGlueDataplanePython 5.0.0, ``awsglue/context.py``), a ``SQLContext`` built from a
SparkContext, a SparkSession or nothing, with the same signatures and defaults (pinned by
tests/unit/test_awsglue_conformance.py), for what the project's jobs use: ``spark_session``,
``create_dynamic_frame.from_catalog``, ``write_dynamic_frame.from_jdbc_conf``,
``extract_jdbc_conf`` and ``get_logger``. Every value AWS hands to Glue's JVM classes is checked
here as the JVM would check it (``awsglue._jvm``): option dicts go through ``json.dumps`` as in
AWS's ``makeOptions`` and only the JSON's content is used afterwards; names, predicates and
contexts go through py4j to ``String`` parameters. The work is done by
``flightpipe.gluelocal.catalog`` and ``flightpipe.gluelocal.jdbc``.
"""

from __future__ import annotations

import typing

from pyspark.sql import SparkSession, SQLContext

from awsglue import _jvm
from awsglue.dynamicframe import DynamicFrame, DynamicFrameReader, DynamicFrameWriter
from flightpipe.gluelocal import aws, catalog, jdbc

if typing.TYPE_CHECKING:
    from typing import Any

    from pyspark import SparkContext


class GlueContext(SQLContext):
    def __init__(self, sparkContext: SparkContext | SparkSession | None = None, **options: Any):
        """``minPartitions``/``targetPartitions`` in ``options`` are checked as AWS hands them
        to the JVM (Scala ``Int``); other options are ignored, as on AWS."""
        # A run given its role's credentials has a session of its own (aws.run_identity).
        run_session = aws.run_spark_session()
        if isinstance(sparkContext, SparkSession):
            spark_session, spark_context = sparkContext, sparkContext.sparkContext
        elif run_session is not None:
            spark_session, spark_context = run_session, run_session.sparkContext
        elif not sparkContext:
            spark_session = SparkSession.builder.getOrCreate()
            spark_context = spark_session.sparkContext
        else:
            spark_session, spark_context = SparkSession.builder.getOrCreate(), sparkContext
        super().__init__(spark_context, spark_session)
        _jvm.image_defaults_kept(self._sc)
        _jvm.partition_hints(self._sc, options)
        self.create_dynamic_frame = DynamicFrameReader(self)
        self.write_dynamic_frame = DynamicFrameWriter(self)
        self.spark_session = self.sparkSession
        self._glue_logger = _jvm.GlueLogger(self._sc)

    def get_logger(self) -> _jvm.GlueLogger:
        return self._glue_logger

    def create_dynamic_frame_from_catalog(
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
        """The table's rows: partitions chosen by ``push_down_predicate`` (Spark SQL over the
        partition values) and by ``additional_options['catalogPartitionPredicate']`` (in the
        catalog)."""
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
        options = _jvm.options(additional_options)
        _jvm.strings(
            self._sc,
            nullable={"catalog_id"},
            database=db,
            table_name=table_name,
            redshift_tmp_dir=redshift_tmp_dir,
            transformation_ctx=transformation_ctx,
            push_down_predicate=push_down_predicate,
            catalog_id=catalog_id,
        )
        _jvm.partition_hints(self._sc, kwargs)
        glue, s3 = aws.clients()
        read = catalog.read_table(
            self.spark_session,
            glue,
            s3,
            db,
            table_name,
            push_down_predicate=push_down_predicate,
            partition_predicate=options.get("catalogPartitionPredicate", ""),
            catalog_id=catalog_id,
        )
        frame = DynamicFrame(read.frame, self, table_name)
        frame._pending_types = read.typed  # typed on first toDF(); count() needs no types
        return frame

    def write_dynamic_frame_from_jdbc_conf(
        self,
        frame: DynamicFrame,
        catalog_connection: str,
        connection_options: dict[str, Any] = {},  # noqa: B006 -- AWS's default; never mutated
        redshift_tmp_dir: str = "",
        transformation_ctx: str = "",
        catalog_id: str | None = None,
    ) -> None:
        """Load the frame into ``dbtable`` (of ``database``) through the Glue connection
        ``catalog_connection``, as Glue's writer for the connection's vendor does
        (``flightpipe.gluelocal.jdbc``). Returns None, as AWS's does."""
        if not isinstance(frame, DynamicFrame):
            raise TypeError(
                "frame_or_dfc must be DynamicFrame orDynamicFrameCollection. Got "
                + str(type(frame))
            )
        options = _jvm.options(connection_options)
        _jvm.strings(
            self._sc,
            nullable={"catalog_id"},
            catalog_connection=catalog_connection,
            redshift_tmp_dir=redshift_tmp_dir,
            transformation_ctx=transformation_ctx,
            catalog_id=catalog_id,
        )
        # AWS names the write's error frame ``frame.name + "_errors"`` once the rows are
        # written, so a frame whose name is not a str fails there; here, before writing.
        _errors_frame_name = frame.name + "_errors"
        glue, s3 = aws.clients()
        jdbc.write_frame(
            frame.toDF(),
            glue,
            s3,
            catalog_connection,
            options,
            redshift_tmp_dir=redshift_tmp_dir,
            catalog_id=catalog_id,
        )

    def extract_jdbc_conf(
        self, connection_name: str, catalog_id: str | None = None
    ) -> dict[str, str]:
        """A Glue connection's JDBC settings, under the keys AWS returns (``fullUrl``, ``url``,
        ``user``, ``password``, ``vendor``, ``enforceSSL``, and the custom certificate's)."""
        _jvm.strings(
            self._sc,
            nullable={"catalog_id"},
            connection_name=connection_name,
            catalog_id=catalog_id,
        )
        glue, _ = aws.clients()
        return jdbc.connection_conf(glue, connection_name, catalog_id).as_glue_dict()
