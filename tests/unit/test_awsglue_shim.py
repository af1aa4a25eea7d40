"""The local ``awsglue`` refuses what AWS's refuses where AWS's Python code hands values to Glue's
JVM classes, with AWS's error (py4j's own where AWS's goes through py4j).

Each test names its source in AWS's package AWSGlueDataplanePython 5.0.0 (file, function); the
signatures and the pure-Python checks are compared with that package itself by
test_awsglue_conformance.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

import pytest
from py4j.protocol import Py4JError

from flightpipe.gluelocal import SHIM_PATH

if str(SHIM_PATH) not in sys.path:
    sys.path.insert(0, str(SHIM_PATH))

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame, DynamicFrameWriter
from awsglue.job import Job
from awsglue.utils import GlueArgumentError, getResolvedOptions
from pyspark.sql import SQLContext

from flightpipe.gluelocal import aws, catalog, jdbc

NOT_A_STRING = r"\(\[class java\.lang\.Integer\]\) does not exist"
NO_OBJECT_ID = "'PosixPath' object has no attribute '_get_object_id'"


@pytest.fixture
def glue(spark):
    return GlueContext(spark.sparkContext)


@pytest.fixture
def frame(spark, glue):
    return DynamicFrame.fromDF(spark.createDataFrame([("a",)], "x string"), glue, "f")


@pytest.fixture
def writes(monkeypatch):
    """What reaches ``jdbc.write_frame`` (no AWS, no warehouse)."""
    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(aws, "clients", lambda: ("glue", "s3"))
    monkeypatch.setattr(jdbc, "write_frame", lambda *a, **k: calls.append((a, k)) or 1)
    return calls


@pytest.fixture
def reads(monkeypatch, spark):
    """What reaches ``catalog.read_table`` (no AWS)."""
    calls: list[tuple[tuple, dict]] = []
    rows = spark.createDataFrame([("1",)], "id string")

    def read_table(*args, **kwargs):
        calls.append((args, kwargs))
        return catalog.CatalogRead(rows, ("id",))

    monkeypatch.setattr(aws, "clients", lambda: ("glue", "s3"))
    monkeypatch.setattr(catalog, "read_table", read_table)
    return calls


# getResolvedOptions (compared case by case with AWS's in test_awsglue_conformance.py)


def test_options_accept_both_spellings_and_ignore_unknown_arguments():
    args = getResolvedOptions(
        ["script.py", "--JOB_NAME", "j", "--day=2013-01-01", "--extra", "x"], ["JOB_NAME", "day"]
    )
    assert (args["JOB_NAME"], args["day"]) == ("j", "2013-01-01")
    assert "extra" not in args
    assert args["job_bookmark_option"] == "job-bookmark-disable"
    assert args["JOB_RUN_ID"] is None


def test_missing_options_are_all_named():
    with pytest.raises(GlueArgumentError, match="required: --a, --b"):
        getResolvedOptions(["script.py"], ["a", "b"])


def test_reserved_names_are_refused_as_aws_spells_them():
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/utils.py, getResolvedOptions: run ids are
    refused when spelled with their dashes; a bare name fails in argparse."""
    with pytest.raises(RuntimeError, match=r"^Using reserved arguments --JOB_RUN_ID$"):
        getResolvedOptions(["script.py"], ["--JOB_RUN_ID"])
    with pytest.raises(argparse.ArgumentError, match="conflicting option string: --JOB_RUN_ID"):
        getResolvedOptions(["script.py"], ["JOB_RUN_ID"])
    with pytest.raises(RuntimeError, match=r"^Using reserved arguments --job-bookmark-from$"):
        getResolvedOptions(["script.py"], ["job-bookmark-from"])


def test_tempdir_is_never_required_and_aliases_redshift_tempdir():
    args = getResolvedOptions(["script.py", "--TempDir", "s3://b/t/"], ["TempDir"])
    assert args["RedshiftTempDir"] == args["TempDir"] == "s3://b/t/"


# Job


def test_job_takes_a_glue_context_or_a_spark_session(spark, glue):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/job.py, Job.__init__."""
    for owner in (glue, spark):
        job = Job(owner)
        job.init("j", {"JOB_NAME": "j", "JOB_RUN_ID": None})
        assert job.isInitialized()
        job.commit()
    with pytest.raises(Exception, match=r"^cannot init Job instance given input parameter type: "):
        Job(spark.sparkContext)


def test_job_takes_what_get_resolved_options_returns(glue):
    """The job script's sequence: the options as str values, ``Job.init`` with them, and only
    then ``commit``."""
    argv = ["script.py", "--JOB_NAME", "j", "--day", "2013-01-01"]
    args = getResolvedOptions(argv, ["JOB_NAME", "day"])
    assert (args["JOB_NAME"], args["day"]) == ("j", "2013-01-01")
    job = Job(glue)
    assert not job.isInitialized()
    with pytest.raises(RuntimeError, match=r"commit\(\) called before Job.init\(\)"):
        job.commit()
    job.init(args["JOB_NAME"], args)
    assert job.isInitialized()
    job.commit()


def test_job_refuses_bookmarks_it_cannot_keep(glue):
    job = Job(glue)
    with pytest.raises(NotImplementedError, match="bookmarks"):
        job.init("j", {"job_bookmark_option": "job-bookmark-enable"})
    job.init("j", {"job_bookmark_option": "job-bookmark-disable"})
    assert job.isInitialized()
    job.commit()


def test_job_args_go_through_py4j_which_refuses_what_it_cannot_convert(glue):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/job.py, Job.init:
    ``self._job.init(job_name, self._spark_session._jsparkSession, args)``. py4j converts the
    dict into a java.util.HashMap value by value and raises its own AttributeError for a value
    it has no conversion for; a list is no java.util.Map, and the call fails."""
    with pytest.raises(AttributeError, match=NO_OBJECT_ID):
        Job(glue).init("j", {"TempDir": Path("/tmp/t")})
    with pytest.raises(Py4JError, match=r"\(\[class java\.util\.ArrayList\]\) does not exist"):
        Job(glue).init("j", ["TempDir"])  # type: ignore[arg-type]


def test_job_args_must_be_text_as_glue_declares_them(glue):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/job.py, Job.init, into Glue's Scala
    ``Job.init(String, SparkSession, java.util.Map[String, String])``. py4j converts an int (an
    Integer) and, with PySpark's converters, a date (a java.sql.Date) without complaint, and type
    erasure lets the JVM take them: the local runtime refuses them, naming the key, stricter
    than py4j alone."""
    with pytest.raises(TypeError, match=r"args\['flight_date'\] is a date, not a str"):
        Job(glue).init("j", {"flight_date": date(2013, 1, 1)})
    with pytest.raises(TypeError, match=r"args\['min_dep_delay'\] is a int, not a str"):
        Job(glue).init("j", {"min_dep_delay": 60})
    with pytest.raises(TypeError, match="must be a dict of str to str, not None"):
        Job(glue).init("j", None)  # type: ignore[arg-type]


def test_job_name_goes_to_a_string_parameter(glue):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/job.py, Job.init: ``job_name`` reaches a
    Scala String parameter through py4j."""
    with pytest.raises(Py4JError, match=NOT_A_STRING):
        Job(glue).init(3, {})  # type: ignore[arg-type]


# GlueContext


def test_glue_context_is_built_as_awss(spark):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/context.py, GlueContext.__init__: a
    SQLContext from a SparkContext, a SparkSession or nothing; ``minPartitions`` goes to a
    Scala Int."""
    for argument in (spark.sparkContext, spark, None):
        context = GlueContext(argument)
        assert isinstance(context, SQLContext)
        assert context.spark_session is spark
    with pytest.raises(Py4JError, match=r"\(\[class java\.lang\.String\]\) does not exist"):
        GlueContext(spark.sparkContext, minPartitions="4")


def test_glue_logger_messages_go_to_a_string_method_through_py4j(glue, caplog):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/context.py, GlueContext.__init__ and
    get_logger: ``sparkContext._jvm.GlueLogger()``, whose methods take a String through py4j;
    the message is logged on Python's "GlueLogger" logger, and the JVM's copy is switched off."""
    logger = glue.get_logger()
    with caplog.at_level(logging.INFO, logger="GlueLogger"):
        logger.info("loaded")
        logger.warn("late")
        logger.error("failed")
    assert [(r.name, r.levelname, r.message) for r in caplog.records] == [
        ("GlueLogger", "INFO", "loaded"),
        ("GlueLogger", "WARNING", "late"),
        ("GlueLogger", "ERROR", "failed"),
    ]
    for method in (logger.info, logger.warn, logger.error):
        with pytest.raises(Py4JError, match=r"Method \w+\(\[class java\.lang\.Integer\]\) does"):
            method(3)  # type: ignore[arg-type]
    assert not logger._jvm_logger.isErrorEnabled()


def test_catalog_additional_options_go_through_json(glue, reads):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/context.py,
    create_dynamic_frame_from_catalog, and awsglue/utils.py, makeOptions: ``json.dumps`` of the
    dict (json's TypeError), and NameError for anything that is not a dict; what is used
    afterwards is the JSON's content."""
    read = glue.create_dynamic_frame.from_catalog
    with pytest.raises(TypeError, match="Object of type date is not JSON serializable"):
        read(database="db", table_name="t", additional_options={"day": date(2013, 1, 1)})
    with pytest.raises(NameError, match="name 'basestring' is not defined"):
        read(database="db", table_name="t", additional_options=None)  # type: ignore[arg-type]
    assert reads == []
    frame = read(
        name_space="db", table_name="t", additional_options={"catalogPartitionPredicate": "x"}
    )
    (args, kwargs) = reads[0]
    assert args[3:] == ("db", "t") and kwargs["partition_predicate"] == "x"
    assert (frame.name, frame.count()) == ("t", 1)


def test_catalog_names_and_predicates_go_to_scala_strings(glue, reads):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/context.py,
    create_dynamic_frame_from_catalog: ``getCatalogSource(db, table_name, redshift_tmp_dir,
    transformation_ctx, push_down_predicate, ..., catalog_id)`` through py4j; None only where
    AWS's default is None (catalog_id); ``minPartitions`` reaches a Scala Int."""
    read = glue.create_dynamic_frame.from_catalog
    with pytest.raises(Py4JError, match=NOT_A_STRING):
        read(database="db", table_name="t", push_down_predicate=1)  # type: ignore[arg-type]
    with pytest.raises(Py4JError, match=NOT_A_STRING):
        read(database=7, table_name="t")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="transformation_ctx must be a str, not None"):
        read(database="db", table_name="t", transformation_ctx=None)  # type: ignore[arg-type]
    with pytest.raises(AttributeError, match=NO_OBJECT_ID):
        read(database="db", table_name="t", redshift_tmp_dir=Path("/tmp"))  # type: ignore[arg-type]
    with pytest.raises(Py4JError, match=r"\(\[class java\.lang\.String\]\) does not exist"):
        read(database="db", table_name="t", minPartitions="4")
    assert reads == []
    read(database="db", table_name="t", catalog_id=None, minPartitions=4)
    assert len(reads) == 1


def test_jdbc_connection_options_go_through_json(glue, frame, writes):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/context.py, write_from_jdbc_conf, and
    awsglue/utils.py, makeOptions: ``json.dumps`` of ``connection_options``; the writer gets the
    JSON's content, and the caller's dict and AWS's ``{}`` default are left alone."""
    write = glue.write_dynamic_frame.from_jdbc_conf
    with pytest.raises(TypeError, match="Object of type date is not JSON serializable"):
        write(frame, "wh", connection_options={"dbtable": "t", "day": date(2013, 1, 1)})
    with pytest.raises(NameError, match="name 'basestring' is not defined"):
        write(frame, "wh", connection_options="{}")  # type: ignore[arg-type]
    assert writes == []
    options = {"dbtable": "t", "columns": ("a", "b"), 1: "x"}
    assert write(frame=frame, catalog_connection="wh", connection_options=options) is None
    (args, kwargs) = writes[0]
    assert args[1:] == ("glue", "s3", "wh", {"dbtable": "t", "columns": ["a", "b"], "1": "x"})
    assert args[0].collect() == frame.toDF().collect()
    assert kwargs == {"redshift_tmp_dir": "", "catalog_id": None}
    assert options == {"dbtable": "t", "columns": ("a", "b"), 1: "x"}
    write(frame, "wh")
    assert writes[1][0][4] == {}
    assert DynamicFrameWriter.from_jdbc_conf.__defaults__ == ({}, "", "")


def test_jdbc_names_go_to_scala_strings(glue, frame, writes):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/context.py, write_from_jdbc_conf:
    ``getJDBCSink(catalog_connection, ..., redshift_tmp_dir, transformation_ctx, catalog_id)``
    through py4j, after the frame's type is checked (AWS's TypeError)."""
    write = glue.write_dynamic_frame.from_jdbc_conf
    with pytest.raises(TypeError, match=r"^frame_or_dfc must be DynamicFrame orDynamicFrameCollec"):
        write(frame.toDF(), "wh", {"dbtable": "t"})  # type: ignore[arg-type]
    with pytest.raises(Py4JError, match=NOT_A_STRING):
        write(frame, 3, {"dbtable": "t"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="redshift_tmp_dir must be a str, not None"):
        write(frame, "wh", {"dbtable": "t"}, redshift_tmp_dir=None)  # type: ignore[arg-type]
    with pytest.raises(Py4JError, match=NOT_A_STRING):
        glue.extract_jdbc_conf(3)  # type: ignore[arg-type]
    assert writes == []


def test_a_frame_named_with_no_str_is_refused_before_writing(glue, spark, writes):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/data_sink.py, DataSink.writeFrame: AWS
    names the write's error frame ``name + "_errors"`` once written, so a frame named None fails
    there; locally before anything is written."""
    unnamed = DynamicFrame.fromDF(spark.createDataFrame([("a",)], "x string"), glue, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'NoneType'"):
        glue.write_dynamic_frame.from_jdbc_conf(unnamed, "wh", {"dbtable": "t"})
    assert writes == []


# DynamicFrame


def test_from_df_names_the_frame_as_aws_does(spark, glue):
    """Source: AWSGlueDataplanePython 5.0.0, awsglue/dynamicframe.py, DynamicFrame.fromDF:
    ``name`` defaults to ""; the frame is bound to a GlueContext: its ``__init__`` reads
    ``glue_ctx._ssql_ctx``, which a SparkSession does not have."""
    df = spark.createDataFrame([("a",), ("b",)], "x string")
    frame = DynamicFrame.fromDF(df, glue)
    assert (frame.name, frame.count(), frame.toDF().collect()) == ("", 2, df.collect())
    with pytest.raises(AttributeError, match="_ssql_ctx"):
        DynamicFrame.fromDF(df, spark)
    with pytest.raises(NotImplementedError, match="ResolveOption"):
        frame.toDF(["x"])


def test_the_stand_in_image_refuses_a_spark_whose_image_jvm_settings_were_replaced(
    spark, monkeypatch
):
    """In the stand-in Glue image, a Spark whose spark.driver.extraJavaOptions or extraClassPath
    lost the image's spark-defaults.conf values (a --conf replaced them) is refused, naming them;
    the session Spark here has neither value, as such a Spark would."""
    monkeypatch.setenv("FLIGHTPIPE_GLUE_IMAGE_DEFAULTS", "/usr/lib/spark/conf/spark-defaults.conf")
    with pytest.raises(
        RuntimeError,
        match=r"spark\.driver\.extraJavaOptions, spark\.driver\.extraClassPath no longer hold "
        r"the image's values .* a --conf replaced them",
    ):
        GlueContext(spark.sparkContext)
    monkeypatch.delenv("FLIGHTPIPE_GLUE_IMAGE_DEFAULTS")
    GlueContext(spark.sparkContext)  # outside the image, there are no image defaults to keep
