"""The local ``awsglue`` modules keep AWS's signatures and argument semantics."""

from __future__ import annotations

import sys

import pytest

from flightpipe.gluelocal import SHIM_PATH

if str(SHIM_PATH) not in sys.path:
    sys.path.insert(0, str(SHIM_PATH))

from awsglue.context import GlueContext
from awsglue.dynamicframe import DynamicFrame
from awsglue.job import Job
from awsglue.transforms import ApplyMapping, SelectFields
from awsglue.utils import GlueArgumentError, getResolvedOptions

pytestmark = pytest.mark.unit


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


def test_reserved_names_are_refused():
    with pytest.raises(RuntimeError, match="Using reserved arguments --JOB_RUN_ID"):
        getResolvedOptions(["script.py"], ["JOB_RUN_ID"])


def test_tempdir_is_never_required_and_aliases_redshift_tempdir():
    args = getResolvedOptions(["script.py", "--TempDir", "s3://b/t/"], ["TempDir"])
    assert args["RedshiftTempDir"] == args["TempDir"] == "s3://b/t/"


def test_job_refuses_bookmarks_it_cannot_keep(spark):
    job = Job(GlueContext(spark.sparkContext))
    with pytest.raises(NotImplementedError, match="bookmarks"):
        job.init("j", {"job_bookmark_option": "job-bookmark-enable"})
    job.init("j", {"job_bookmark_option": "job-bookmark-disable"})
    assert job.isInitialized()
    job.commit()


def test_apply_mapping_renames_casts_and_drops_unmapped_fields(spark):
    glue = GlueContext(spark.sparkContext)
    frame = DynamicFrame.fromDF(
        spark.createDataFrame([("7", "x", "y")], "A string, b string, c string"), glue, "f"
    )
    mapped = ApplyMapping.apply(
        frame=frame, mappings=[("a", "string", "id", "long"), ("b", "string", "b", "string")]
    )
    assert mapped.toDF().collect()[0].asDict() == {"id": 7, "b": "x"}
    assert SelectFields.apply(frame, ["c"]).toDF().columns == ["c"]
    with pytest.raises(TypeError, match="Mapping must be specified as a tuple"):
        frame.apply_mapping(["a"])
