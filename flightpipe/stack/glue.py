"""Real Glue crawls and job runs behind moto's Glue API, inside the local stack.

moto stores crawlers and jobs but never crawls, and its job runs go STARTING -> RUNNING ->
SUCCEEDED on their own. Here StartCrawler runs ``flightpipe.stack.crawler`` and StartJobRun runs
the job's script on the local Glue runtime, each in a background thread, and the states that
GetCrawler and GetJobRun report are the real ones:

* a crawler is RUNNING until its crawl ends, then READY with ``LastCrawl`` SUCCEEDED, or FAILED
  with the error as ``ErrorMessage``; StartCrawler while running raises CrawlerRunningException;
* a crawler remembers the folders its last successful crawl listed, so that a crawl with
  ``RecrawlPolicy`` CRAWL_NEW_FOLDERS_ONLY reads only new folders; CreateCrawler refuses the
  policies AWS refuses with it (``crawler.check_policies``), as InvalidInputException;
* UpdateConnection and DeleteConnection, which moto lacks, change the stored connection;
* a job run is STARTING, RUNNING, then SUCCEEDED, or FAILED with the real exception as
  ``ErrorMessage``; ``MaxConcurrentRuns`` is enforced by moto's own StartJobRun check, which
  counts the real states; each run's log goes to ``<log dir>/glue-jobs/<run id>.log``; a run
  happens in the stack's process, on its warm Spark, or, when ``install`` is given a
  ``ContainerJobs`` (the compose stack), in a container of the Glue image
  (``flightpipe.stack.glue_containers``);
* with the ``aws`` time model (``flightpipe_localstack.clock``), a crawl stays RUNNING, and a
  job run STARTING and RUNNING, at least as long as the model's AWS-like durations.

The patches are applied once, by ``install``, on moto's model classes (``FakeCrawler``,
``FakeJob``): these are the only places moto decides those states.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from flightpipe_localstack import clock
from moto.core.responses import ActionResult, EmptyResult
from moto.glue import models as glue_models
from moto.glue.exceptions import EntityNotFoundException, InvalidInputException
from moto.glue.responses import GlueResponse

from flightpipe.settings import LOG_FORMAT
from flightpipe.stack.crawler import CrawlerPolicyError, check_policies, crawl
from flightpipe.stack.glue_containers import ContainerJobs, JobRunFailed
from flightpipe.stack.job_code import JobCode
from flightpipe.stack.job_code import fetch as fetch_job_code

log = logging.getLogger("flightpipe.stack.glue")
# The session name AWS Glue gives a job's role session: CloudTrail records a job's calls as
# "assumed-role/<role>/GlueJobRunnerSession" (AWS documents no name; this is the one its
# records and error messages show). A crawl's session is named "AWS-Crawler".
JOB_SESSION_NAME = "GlueJobRunnerSession"


class _Settings:
    log_dir: Path = Path(".local/logs")
    code_dir: Path = Path(".local/glue-code")
    executor: ThreadPoolExecutor | None = None
    containers: ContainerJobs | None = None


_settings = _Settings()
_installed = False


def install(
    log_dir: Path,
    code_dir: Path,
    workers: int = 4,
    containers: ContainerJobs | None = None,
) -> None:
    """Patch moto's Glue models so crawls and job runs really happen (idempotent); job runs go
    to ``containers`` when given, else run in this process, with the code fetched from S3 into
    ``code_dir``."""
    global _installed
    _settings.log_dir = log_dir
    _settings.code_dir = code_dir
    _settings.containers = containers
    _settings.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glue-run")
    if _installed:
        return
    setattr(glue_models.FakeCrawler, "start_crawler", _start_crawler)
    setattr(
        glue_models.GlueBackend,
        "create_crawler",
        _create_crawler(glue_models.GlueBackend.create_crawler),
    )
    setattr(glue_models.FakeCrawler, "as_dict", _crawler_as_dict(glue_models.FakeCrawler.as_dict))
    setattr(glue_models, "FakeJobRun", LocalJobRun)
    setattr(glue_models.FakeJob, "start_job_run", _start_job_run(glue_models.FakeJob.start_job_run))
    setattr(GlueResponse, "update_connection", _update_connection)
    setattr(GlueResponse, "delete_connection", _delete_connection)
    setattr(
        glue_models.FakeConnection,
        "as_dict",
        _connection_as_dict(glue_models.FakeConnection.as_dict),
    )
    setattr(GlueResponse, "update_job", _update_job)
    setattr(GlueResponse, "update_crawler", _update_crawler)
    _installed = True


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- crawlers -------------------------------------------------------------------------------


class Crawl:
    """One crawl; moto's crawler reports its status."""

    def __init__(self) -> None:
        self.status = "RUNNING"
        self.error_message: str | None = None
        self.start_time = _utcnow()
        self.end_time: datetime | None = None
        self.log_group = "/aws-glue/crawlers"
        self.log_stream = ""
        self.message_prefix = ""

    def advance(self) -> None:
        """moto advances managed states on read; a real crawl ends when it ends."""


def _start_crawler(self: Any) -> None:
    if self.crawls and self.crawls[-1].status == "RUNNING":
        raise glue_models.CrawlerRunningException(
            f"Crawler with name {self.name} has already started"
        )
    run = Crawl()
    run.log_stream = self.name
    self.crawls.append(run)
    definition = self.as_dict()
    threading.Thread(
        target=_crawl, args=(self, run, definition), name=f"crawl-{self.name}", daemon=True
    ).start()


def _create_crawler(original: Callable[..., None]) -> Callable[..., None]:
    def create_crawler(self: Any, *args: Any, **kwargs: Any) -> None:
        definition = {
            "Targets": kwargs.get("targets"),
            "SchemaChangePolicy": kwargs.get("schema_change_policy"),
            "RecrawlPolicy": kwargs.get("recrawl_policy"),
        }
        try:
            check_policies(definition)
        except CrawlerPolicyError as error:
            raise InvalidInputException("CreateCrawler", str(error)) from error
        original(self, *args, **kwargs)

    return create_crawler


def role_session(role_arn: str, session_name: str) -> boto3.session.Session:
    """A session of ``role_arn``, assumed through the stack's STS, as AWS's Glue runs a crawl
    with its crawler's role: the stack's IAM check evaluates its calls against that role's
    policies (localstack/flightpipe_localstack/iam_check.py)."""
    credentials = _sts().assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _sts() -> Any:
    """An STS client of a session of its own: crawls and runs start in threads of their own,
    and botocore's sessions are not safe to make clients from in several threads at once."""
    return boto3.session.Session().client("sts")


def session_credentials(session: boto3.session.Session) -> dict[str, str]:
    """``session``'s credentials as ``AWS_*`` environment variables."""
    frozen = session.get_credentials().get_frozen_credentials()
    return {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        "AWS_SESSION_TOKEN": frozen.token or "",
    }


def _role_arn(role: str) -> str:
    """A crawler's or job's role as an ARN (both take a role's name or its ARN)."""
    if role.startswith("arn:"):
        return role
    account = _sts().get_caller_identity()["Account"]
    return f"arn:aws:iam::{account}:role/{role}"


def _crawl(crawler: Any, run: Crawl, definition: dict[str, Any]) -> None:
    started = time.monotonic()
    try:
        session = role_session(_role_arn(definition["Role"]), "AWS-Crawler")
        summary = crawl(
            session.client("glue"),
            session.client("s3"),
            definition,
            getattr(crawler, "crawled_folders", None),
        )
        log.info(
            "crawler %s (%s crawl): read %d objects; created %s, updated %s, %d partitions "
            "added; skipped %s",
            crawler.name,
            "incremental" if summary.incremental else "full",
            summary.objects_read,
            summary.tables_created,
            summary.tables_updated,
            summary.partitions_created,
            summary.skipped,
        )
        crawler.crawled_folders = frozenset(summary.folders)
        clock.current().pad(started, clock.current().crawl_seconds)
        run.status = "SUCCEEDED"
    except Exception as error:  # a failed crawl is reported through GetCrawler, as on AWS
        log.warning("crawler %s failed: %s", crawler.name, error)
        run.error_message = str(error)
        run.status = "FAILED"
    finally:
        run.end_time = _utcnow()
        crawler.crawl_elapsed_time = int((time.monotonic() - started) * 1000)


def _crawler_as_dict(original: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def as_dict(self: Any) -> dict[str, Any]:
        crawls = self.crawls
        running = bool(crawls) and crawls[-1].status == "RUNNING"
        data = original(_WithoutCrawls(self)) if crawls else original(self)
        data["State"] = "RUNNING" if running else "READY"
        data["CrawlElapsedTime"] = self.crawl_elapsed_time if not running else 0
        finished = [c for c in crawls if c.status != "RUNNING"]
        if finished:
            last = finished[-1]
            data["LastCrawl"] = {
                "Status": last.status,
                "LogGroup": last.log_group,
                "LogStream": last.log_stream,
                "MessagePrefix": last.message_prefix,
                "StartTime": last.start_time,
                **({"ErrorMessage": last.error_message} if last.error_message else {}),
            }
        return data

    return as_dict


class _WithoutCrawls:
    """The crawler seen without its crawls, so moto's as_dict builds everything but LastCrawl."""

    def __init__(self, crawler: Any):
        self._crawler = crawler
        self.crawls: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._crawler, name)

    @property
    def status(self) -> str:
        return "READY"


# --- updates --------------------------------------------------------------------------------
# moto 5.2.5 has no UpdateJob, UpdateCrawler, UpdateConnection or DeleteConnection, which
# CloudFormation calls when a deployment changes the jobs, the crawler or the connection (and
# tests take the warehouse away with them).

# JobUpdate's fields and the FakeJob attributes they set. AWS: "The previous job definition is
# completely overwritten by this information" (Glue API reference, UpdateJob).
_JOB_FIELDS = {
    "Description": "description",
    "LogUri": "log_uri",
    "Role": "role",
    "ExecutionProperty": "execution_property",
    "Command": "command",
    "DefaultArguments": "default_arguments",
    "NonOverridableArguments": "non_overridable_arguments",
    "Connections": "connections",
    "MaxRetries": "max_retries",
    "AllocatedCapacity": "allocated_capacity",
    "Timeout": "timeout",
    "MaxCapacity": "max_capacity",
    "SecurityConfiguration": "security_configuration",
    "NotificationProperty": "notification_property",
    "GlueVersion": "glue_version",
    "NumberOfWorkers": "number_of_workers",
    "WorkerType": "worker_type",
}
_DICT_DEFAULTS = {"execution_property", "default_arguments"}
# UpdateCrawler's fields (only those given change; a running crawler cannot be updated).
_CRAWLER_FIELDS = {
    "Role": "role",
    "DatabaseName": "database_name",
    "Description": "description",
    "Targets": "targets",
    "Schedule": "schedule",
    "Classifiers": "classifiers",
    "TablePrefix": "table_prefix",
    "SchemaChangePolicy": "schema_change_policy",
    "RecrawlPolicy": "recrawl_policy",
    "LineageConfiguration": "lineage_configuration",
    "Configuration": "configuration",
    "CrawlerSecurityConfiguration": "crawler_security_configuration",
}


def _update_job(self: Any) -> ActionResult:
    name, update = self._get_param("JobName"), self._get_param("JobUpdate") or {}
    job = self.glue_backend.jobs.get(name)
    if job is None:
        raise EntityNotFoundException(f"Job {name} not found")
    for field, attribute in _JOB_FIELDS.items():
        value = update.get(field)
        setattr(
            job, attribute, value if value is not None or attribute not in _DICT_DEFAULTS else {}
        )
    job.last_modified_on = _utcnow()
    return ActionResult({"JobName": name})


def _update_crawler(self: Any) -> ActionResult:
    name = self._get_param("Name")
    crawler = self.glue_backend.crawlers.get(name)
    if crawler is None:
        raise EntityNotFoundException(f"Crawler {name} not found")
    if crawler.crawls and crawler.crawls[-1].status == "RUNNING":
        raise glue_models.CrawlerRunningException(f"Crawler with name {name} has already started")
    given = {field: self._get_param(field) for field in _CRAWLER_FIELDS}
    definition = crawler.as_dict() | {k: v for k, v in given.items() if v is not None}
    try:
        check_policies(definition)
    except CrawlerPolicyError as error:
        raise InvalidInputException("UpdateCrawler", str(error)) from error
    for field, attribute in _CRAWLER_FIELDS.items():
        if given[field] is not None:
            setattr(crawler, attribute, given[field])
    crawler.last_updated = _utcnow()
    crawler.version += 1
    return EmptyResult()


def _connection_as_dict(
    original: Callable[..., dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """GetConnection with the ``ConnectionType`` and ``PhysicalConnectionRequirements`` AWS
    returns, which moto keeps from CreateConnection but leaves out of its answer
    (``FakeConnection.as_dict``)."""

    def as_dict(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        data = original(self, *args, **kwargs)  # GetConnection passes hide_password
        given = self.connection_input or {}
        for field in ("ConnectionType", "PhysicalConnectionRequirements"):
            if given.get(field) is not None:
                data.setdefault(field, given[field])
        return data

    return as_dict


# UpdateConnection and DeleteConnection.


def _update_connection(self: Any) -> ActionResult:
    name, given = self._get_param("Name"), self._get_param("ConnectionInput")
    backend = self.glue_backend
    if name not in backend.connections:
        raise EntityNotFoundException(f"Connection {name} not found")
    del backend.connections[name]
    backend.connections[given["Name"]] = glue_models.FakeConnection(
        backend, self._get_param("CatalogId"), given, {}
    )
    return EmptyResult()


def _delete_connection(self: Any) -> ActionResult:
    name = self._get_param("ConnectionName")
    if self.glue_backend.connections.pop(name, None) is None:
        raise EntityNotFoundException(f"Connection {name} not found")
    return EmptyResult()


# --- job runs -------------------------------------------------------------------------------


def _start_job_run(original: Callable[..., str]) -> Callable[..., str]:
    def start_job_run(self: Any, *args: Any, **kwargs: Any) -> str:
        run_id = original(self, *args, **kwargs)
        run = next(r for r in self.job_runs if r.job_run_id == run_id)
        run.job = self
        assert _settings.executor is not None, "flightpipe.stack.glue.install() was not called"
        _settings.executor.submit(run.execute)
        return run_id

    return start_job_run


class LocalJobRun(glue_models.FakeJobRun):
    """A job run whose state is the state of the real run of its script.

    Installed as ``moto.glue.models.FakeJobRun``, so moto's own StartJobRun (argument merging,
    the MaxConcurrentRuns check) builds these.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._state = "STARTING"
        self._error: str | None = None
        self.job: Any = None
        self.started_on = _utcnow()
        self.modified_on = self.started_on
        self.completed_on: datetime | None = None  # type: ignore[assignment]
        self._execution_seconds = 0

    @property
    def status(self) -> str:
        return self._state

    @status.setter
    def status(self, value: str) -> None:
        self._state = value

    def advance(self) -> None:
        """States change when the run does, not when someone reads them."""

    def _set(self, state: str) -> None:
        self._state = state
        self.modified_on = _utcnow()

    def execute(self) -> None:
        from flightpipe.gluelocal.runner import run_job

        log_path = _settings.log_dir / "glue-jobs" / f"{self.job_run_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = _thread_log_handler(log_path)
        logging.getLogger().addHandler(handler)  # flightpipe.*, GlueLogger, ... all propagate
        model = clock.current()
        started = time.monotonic()
        try:
            role = role_session(_role_arn(self.job.role), JOB_SESSION_NAME)
            code = self._code(role.client("s3"))
            model.pad(started, model.job_start_seconds)
            self._set("RUNNING")
            running = time.monotonic()
            log.info(
                "job %s run %s: %s %s", self.job_name, self.job_run_id, code.script, self._argv()
            )
            if _settings.containers is not None:
                _settings.containers.run(self.job_run_id, code, self._argv(), log_path)
            else:
                run_job(
                    code.script,
                    self._argv(),
                    libraries=code.libraries,
                    credentials=session_credentials(role),
                )
            model.pad(running, model.job_run_seconds)
            self._set("SUCCEEDED")
            log.info("job %s run %s SUCCEEDED", self.job_name, self.job_run_id)
        except BaseException as error:  # the run fails; the stack goes on
            # A container's failure is already the job's own "Name: message".
            named = isinstance(error, JobRunFailed)
            self._error = str(error) if named else described(error)
            log.error(
                "job %s run %s FAILED: %s",
                self.job_name,
                self.job_run_id,
                self._error,
                exc_info=not named,  # a container's traceback is in its output above
            )
            self._set("FAILED")
        finally:
            self.completed_on = _utcnow()
            self._execution_seconds = int(time.monotonic() - started)
            logging.getLogger().removeHandler(handler)
            handler.close()

    def _code(self, s3: Any) -> JobCode:
        """The script and libraries the job's definition names, read from S3 with the job's
        role (``s3``), as Glue reads them."""
        location = (self.job.command or {}).get("ScriptLocation", "")
        extra = {**(self.job.default_arguments or {}), **(self.arguments or {})}
        return fetch_job_code(s3, _settings.code_dir, location, extra.get("--extra-py-files"))

    def _argv(self) -> list[str]:
        argv: list[str] = []
        given = {
            **(self.arguments or {}),
            "--JOB_RUN_ID": self.job_run_id,
            "--JOB_NAME": self.job_name,
        }
        for key, value in given.items():
            argv += [key if key.startswith("--") else f"--{key}", str(value)]
        return argv

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        data["JobRunState"] = self._state
        data["LastModifiedOn"] = self.modified_on
        data["ExecutionTime"] = self._execution_seconds
        data["GlueVersion"] = getattr(self.job, "glue_version", None) or "5.0"
        data["LogGroupName"] = "/aws-glue/jobs"
        if self.completed_on is None:
            data.pop("CompletedOn", None)
        if self._error:
            data["ErrorMessage"] = self._error
        return data


def described(error: BaseException) -> str:
    """An in-process run's error as the container runner names it (``job_error``): its class
    and message, and for a Java exception raised through py4j the Java exception and its causes
    instead of Java's whole stack trace."""
    java = getattr(error, "java_exception", None)
    if java is None:
        return f"{type(error).__name__}: {error}"
    chain = [str(error).strip().splitlines()[0]] if str(error).strip() else []
    while java is not None and len(chain) < 9:
        chain.append(" ".join(str(java.toString()).split()))
        java = java.getCause()
    return f"{type(error).__name__}: " + " Caused by: ".join(chain)


def _thread_log_handler(path: Path) -> logging.Handler:
    """A handler for the root logger that keeps only the records of the current thread (one job
    run: its own lines, its GlueLogger's, its failure's traceback), not those of other runs or of
    py4j's and Spark's threads."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    return handler
