"""Create what the pipeline needs against an AWS endpoint, idempotently.

Used by ``flightpipe local up`` against the local stack; every call goes through boto3, so the
same code runs against any endpoint. Each resource is created when missing and left alone when
it already matches; running it twice changes nothing. A resource that exists but differs is
updated (on an endpoint without the update call, moto's Glue for one, it is recreated).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

from flightpipe.config import REPO, Names
from flightpipe.warehouse import warehouse_from_url

log = logging.getLogger("flightpipe.provision")

GLUE_SCRIPTS = (
    "delayed_flights.py",
    "load_airports.py",
    "flight_transforms.py",
    "flight_io.py",
    "day_load.py",
)
STATE_MACHINE_FILE = REPO / "stepfunctions" / "pipeline.asl.json"
CHALICE_APP = "flightpipe"
_UNSUPPORTED = {"NotImplemented", "InternalFailure", "NotImplementedException"}


@dataclass(frozen=True)
class Provisioned:
    """What a user or test needs to reach the provisioned pipeline."""

    data_bucket: str
    state_machine_arn: str
    alerts_topic_arn: str
    alerts_queue_url: str
    glue_job: str
    crawler: str


def provision(
    names: Names,
    database_url: str,
    *,
    stage: str = "local",
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    account_id: str = "123456789012",
) -> Provisioned:
    """Provision through ``session`` (default: the environment's) at ``endpoint_url``."""
    session = session or boto3.session.Session()
    region = session.region_name or "us-east-1"
    arns = _Arns(region, account_id)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint_url)

    s3, sns, sqs = client("s3"), client("sns"), client("sqs")
    glue, sfn, events = client("glue"), client("stepfunctions"), client("events")
    _bucket(s3, names.data_bucket, region)
    topic_arn, queue_url = _alerts(sns, sqs, names)
    scripts = _upload_scripts(s3, names.data_bucket)
    _glue_database(glue, names.glue_database)
    _glue_connection(glue, names, database_url)
    warehouse_database = urlsplit(database_url).path.lstrip("/") or names.warehouse_database
    for job_name, definition in job_definitions(
        names, scripts, arns.role("flightpipe-glue"), warehouse_database
    ).items():
        _glue_job(glue, job_name, definition)
    _crawler(glue, names, arns.role("flightpipe-glue"))
    state_machine_arn = _state_machine(sfn, names, arns, topic_arn)
    _rules(events, names, arns, stage, state_machine_arn)
    warehouse_from_url(database_url).apply_schema()
    return Provisioned(
        names.data_bucket, state_machine_arn, topic_arn, queue_url, names.job, names.crawler
    )


@dataclass(frozen=True)
class _Arns:
    region: str
    account: str

    def role(self, name: str) -> str:
        return f"arn:aws:iam::{self.account}:role/{name}"

    def function(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    except ClientError as error:
        if _code(error) != "BucketAlreadyOwnedByYou":
            raise
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )


def _alerts(sns: Any, sqs: Any, names: Names) -> tuple[str, str]:
    topic_arn = sns.create_topic(Name=names.alerts_topic)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=names.alerts_queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    subscribed = [
        s
        for s in sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
        if s["Endpoint"] == queue_arn
    ]
    if not subscribed:
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def _upload_scripts(s3: Any, bucket: str) -> dict[str, str]:
    locations = {}
    for name in GLUE_SCRIPTS:
        key = f"glue-scripts/{name}"
        body = (REPO / "glue_job" / name).read_bytes()
        try:
            current = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            current = None
        if current != body:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        locations[name] = f"s3://{bucket}/{key}"
    return locations


def _glue_database(glue: Any, database: str) -> None:
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database})


def _ensure(
    name: str,
    get: Callable[[], dict[str, Any] | None],
    matches: Callable[[dict[str, Any]], bool],
    create: Callable[[], Any],
    update: Callable[[], Any],
    delete: Callable[[], Any],
) -> None:
    """Create, update, or leave alone; recreate where the endpoint has no update call."""
    current = get()
    if current is None:
        create()
        log.info("created %s", name)
        return
    if matches(current):
        return
    try:
        update()
        log.info("updated %s", name)
    except ClientError as error:
        if _code(error) not in _UNSUPPORTED:
            raise
        delete()
        create()
        log.info("recreated %s (no update call on this endpoint)", name)


def _glue_entity(glue: Any, fetch: Callable[[], Any]) -> Callable[[], dict[str, Any] | None]:
    """A getter for one Glue entity that answers None when it does not exist."""

    def get() -> dict[str, Any] | None:
        try:
            return dict(fetch())
        except glue.exceptions.EntityNotFoundException:
            return None

    return get


def _includes(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return all(current.get(key) == value for key, value in wanted.items())


def _glue_connection(glue: Any, names: Names, database_url: str) -> None:
    parts = urlsplit(database_url)
    properties = {
        "JDBC_CONNECTION_URL": (
            f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
        ),
        "USERNAME": parts.username or "",
    }
    if parts.password:
        properties["PASSWORD"] = parts.password
    connection = {
        "Name": names.glue_connection,
        "ConnectionType": "JDBC",
        "ConnectionProperties": properties,
    }

    _ensure(
        f"Glue connection {names.glue_connection}",
        _glue_entity(
            glue,
            lambda: glue.get_connection(Name=names.glue_connection, HidePassword=False)[
                "Connection"
            ],
        ),
        lambda c: c.get("ConnectionProperties") == properties,
        lambda: glue.create_connection(ConnectionInput=connection),
        lambda: glue.update_connection(Name=names.glue_connection, ConnectionInput=connection),
        lambda: glue.delete_connection(ConnectionName=names.glue_connection),
    )


LIBRARIES = ("flight_transforms.py", "flight_io.py", "day_load.py")


def job_definitions(
    names: Names, scripts: dict[str, str], role: str, warehouse_database: str
) -> dict[str, dict[str, Any]]:
    """The pipeline's Glue jobs: the day load and the airports dimension reload."""
    common_arguments = {
        "--extra-py-files": ",".join(scripts[name] for name in LIBRARIES),
        "--data_bucket": names.data_bucket,
        "--connection_name": names.glue_connection,
        "--warehouse_database": warehouse_database,
        "--accepted_airports_key": names.accepted_airports_key,
        "--TempDir": f"s3://{names.data_bucket}/glue-temp/",
        "--job-bookmark-option": "job-bookmark-disable",
    }

    def job(script: str, arguments: dict[str, str], concurrency: int) -> dict[str, Any]:
        return {
            "Role": role,
            "Command": {"Name": "glueetl", "ScriptLocation": scripts[script], "PythonVersion": "3"},
            "DefaultArguments": {**common_arguments, **arguments},
            "Connections": {"Connections": [names.glue_connection]},
            "ExecutionProperty": {"MaxConcurrentRuns": concurrency},
            "GlueVersion": "5.0",
            "WorkerType": "G.1X",
            "NumberOfWorkers": 2,
            "Timeout": 60,
        }

    return {
        names.job: job(
            "delayed_flights.py",
            {"--catalog_database": names.glue_database, "--flights_table": names.flights_table},
            concurrency=2,
        ),
        names.airports_job: job("load_airports.py", {"--airports_key": "dim/airports.csv"}, 1),
    }


def _glue_job(glue: Any, name: str, definition: dict[str, Any]) -> None:
    _ensure(
        f"Glue job {name}",
        _glue_entity(glue, lambda: glue.get_job(JobName=name)["Job"]),
        lambda job: _includes(job, definition),
        lambda: glue.create_job(Name=name, **definition),
        lambda: glue.update_job(JobName=name, JobUpdate=definition),
        lambda: glue.delete_job(JobName=name),
    )


def _crawler(glue: Any, names: Names, role: str) -> None:
    definition = {
        "Role": role,
        "DatabaseName": names.glue_database,
        "Targets": {"S3Targets": [{"Path": f"s3://{names.data_bucket}/{names.flights_table}/"}]},
        "SchemaChangePolicy": {
            "UpdateBehavior": "UPDATE_IN_DATABASE",
            "DeleteBehavior": "DEPRECATE_IN_DATABASE",
        },
    }

    _ensure(
        f"Glue crawler {names.crawler}",
        _glue_entity(glue, lambda: glue.get_crawler(Name=names.crawler)["Crawler"]),
        lambda crawler: _includes(crawler, definition),
        lambda: glue.create_crawler(Name=names.crawler, **definition),
        lambda: glue.update_crawler(Name=names.crawler, **definition),
        lambda: glue.delete_crawler(Name=names.crawler),
    )


def state_machine_values(names: Names, topic_arn: str, poll_seconds: int) -> dict[str, str]:
    """The values of the definition's placeholders (numbers as text, read with StringToJson)."""
    return {
        "CrawlerName": names.crawler,
        "JobName": names.job,
        "AirportsJobName": names.airports_job,
        "AlertsTopicArn": topic_arn,
        "CrawlerPollSeconds": str(poll_seconds),
        "CrawlerMaxPolls": str(max(1, 900 // poll_seconds)),
    }


def state_machine_definition(
    names: Names, topic_arn: str, poll_seconds: int = 1, path: Path = STATE_MACHINE_FILE
) -> str:
    """The definition file with its ``${Placeholder}`` strings filled (local: short waits)."""
    values = state_machine_values(names, topic_arn, poll_seconds)
    text = path.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise ValueError(f"{path}: unfilled placeholder near {text[text.index('${') :][:40]!r}")
    json.loads(text)
    return text


def _state_machine(sfn: Any, names: Names, arns: _Arns, topic_arn: str) -> str:
    definition = state_machine_definition(names, topic_arn)
    role = arns.role("flightpipe-states")
    existing = {
        m["name"]: m["stateMachineArn"]
        for page in sfn.get_paginator("list_state_machines").paginate()
        for m in page["stateMachines"]
    }
    arn = existing.get(names.state_machine)
    if arn is None:
        return str(
            sfn.create_state_machine(name=names.state_machine, definition=definition, roleArn=role)[
                "stateMachineArn"
            ]
        )
    if sfn.describe_state_machine(stateMachineArn=arn)["definition"] != definition:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
    return str(arn)


def _rules(events: Any, names: Names, arns: _Arns, stage: str, state_machine_arn: str) -> None:
    uploads = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [names.data_bucket]},
            "object": {"key": [{"prefix": f"{names.flights_table}/"}, {"prefix": "dim/"}]},
        },
    }
    ended_badly = {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "stateMachineArn": [state_machine_arn],
            "status": ["FAILED", "TIMED_OUT", "ABORTED"],
        },
    }
    for rule, pattern, handler in (
        (names.object_created_rule, uploads, "on_object_created"),
        (names.execution_status_rule, ended_badly, "on_execution_failed"),
    ):
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        wanted = [{"Id": handler, "Arn": arns.function(f"{CHALICE_APP}-{stage}-{handler}")}]
        current = events.list_targets_by_rule(Rule=rule)["Targets"]
        if [{"Id": t["Id"], "Arn": t["Arn"]} for t in current] != wanted:
            events.put_targets(Rule=rule, Targets=wanted)
