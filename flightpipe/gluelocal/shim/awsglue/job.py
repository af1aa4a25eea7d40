"""``awsglue.job.Job``: a run's lifecycle, as AWS's ``Job`` class (AWSGlueDataplanePython 5.0.0,
``awsglue/job.py``).

AWS's ``Job`` is a front for Glue's Scala ``Job`` object: ``init`` hands the job name and the
args dict to ``Job.init(String, SparkSession, java.util.Map[String, String])`` through py4j.
Locally both go through py4j the same way (see ``awsglue._jvm``). Glue keeps job-bookmark state
in the service; there is no bookmark store here, so a run that asks for bookmarks
(``--job-bookmark-option job-bookmark-enable`` or ``-pause``) is refused rather than silently
reprocessing everything, and ``commit`` only marks the run as committed.
"""

from __future__ import annotations

import typing

from awsglue import _jvm

if typing.TYPE_CHECKING:
    from typing import Any


class Job:
    @classmethod
    def continuation_options(cls) -> list[str]:
        return [
            "--continuation-option",
            "continuation-enabled",
            "continuation-readonly",
            "continuation-ignore",
        ]

    @classmethod
    def job_bookmark_options(cls) -> list[str]:
        return [
            "--job-bookmark-option",
            "job-bookmark-enable",
            "job-bookmark-pause",
            "job-bookmark-disable",
        ]

    @classmethod
    def job_bookmark_range_options(cls) -> list[str]:
        return ["--job-bookmark-from", "--job-bookmark-to"]

    @classmethod
    def id_params(cls) -> list[str]:
        return ["--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--SECURITY_CONFIGURATION"]

    @classmethod
    def encryption_type_options(cls) -> list[str]:
        return ["--encryption-type", "sse-s3"]

    @classmethod
    def data_lineage_options(cls) -> list[str]:
        return ["--enable-data-lineage"]

    def __init__(self, glue_context_or_spark_session: Any):
        """A GlueContext or a SparkSession, as on AWS; anything else raises AWS's Exception."""
        from pyspark.sql import SparkSession

        from awsglue.context import GlueContext

        if isinstance(glue_context_or_spark_session, GlueContext):
            self._glue_context: GlueContext | None = glue_context_or_spark_session
            self._spark_session = glue_context_or_spark_session.sparkSession
        elif isinstance(glue_context_or_spark_session, SparkSession):
            self._glue_context = None
            self._spark_session = glue_context_or_spark_session
        else:
            raise Exception(
                "cannot init Job instance given input parameter type: "
                + str(type(glue_context_or_spark_session))
            )
        self._name: str | None = None
        self._committed = False

    def init(self, job_name: str, args: dict[str, str | None] = {}) -> None:  # noqa: B006 -- AWS's default, never mutated
        """Start the run. ``args={}`` is AWS's default (never mutated here).

        As on AWS, ``args`` goes through py4j to a ``java.util.Map`` (py4j's own errors for what
        it cannot convert) and ``job_name`` to a ``String``. Keys and values must also be str
        (values may be None): Glue's signature is ``java.util.Map[String, String]``, which the
        JVM cannot check at run time (type erasure), so this is stricter than py4j alone.
        """
        sc = self._spark_session.sparkContext
        checked = _jvm.string_map(sc, "args", args)
        _jvm.strings(sc, job_name=job_name)
        if checked.get("job_bookmark_option") in ("job-bookmark-enable", "job-bookmark-pause"):
            raise NotImplementedError(
                "job bookmarks are not available in the local Glue runtime; "
                "run with --job-bookmark-option job-bookmark-disable"
            )
        self._name = job_name

    def isInitialized(self) -> bool:
        return self._name is not None

    def commit(self) -> None:
        if self._name is None:
            raise RuntimeError("Job.commit() called before Job.init()")
        self._committed = True
