"""``awsglue.job.Job``: a run's lifecycle, as AWS's ``Job`` class.

Glue's ``Job`` keeps job-bookmark state in the service. Locally there is no bookmark store, so
a run that asks for bookmarks (``--job-bookmark-option job-bookmark-enable``) is refused rather
than silently reprocessing everything; with bookmarks disabled (Glue's default) ``commit`` only
marks the run as committed.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


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

    def __init__(self, glue_context_or_spark_session: Any):
        from awsglue.context import GlueContext

        if isinstance(glue_context_or_spark_session, GlueContext):
            self._glue_context: GlueContext | None = glue_context_or_spark_session
        elif isinstance(glue_context_or_spark_session, SparkSession):
            self._glue_context = None
        else:
            raise Exception(
                "cannot init Job instance given input parameter type: "
                + str(type(glue_context_or_spark_session))
            )
        self._name: str | None = None
        self._committed = False

    def init(self, job_name: str, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        if args.get("job_bookmark_option") in ("job-bookmark-enable", "job-bookmark-pause"):
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
