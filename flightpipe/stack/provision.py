"""Provision the pipeline from infra/pipeline.yaml against an AWS endpoint, idempotently.

``flightpipe local up`` runs it against the local stack. The template is the one ``make package``
deploys, merged with the Chalice app's functions and rendered for the stage ``local``
(``flightpipe.stack.template``); each resource is created through its service's API with the
properties CloudFormation would give it. Every call goes through boto3, so the same code runs
against any endpoint. A resource is created when missing and left alone when it already
matches; running it twice changes nothing. A resource that exists but differs is updated (on an
endpoint without the update call, moto's Glue for one, it is recreated).

A resource type the code below does not know fails provisioning, naming it, unless
``template.SKIPPED`` says why it has no local meaning; a property the code does not apply fails
too, unless it is listed as dropped with its reason. Locally, on purpose:

* the connection's ``JDBC_CONNECTION_URL`` is the local PostgreSQL's and its ``SECRET_ID`` a
  local secret holding the local user (the template's ``WarehouseSecret``); the local Glue
  runtime reads it as Glue does (``flightpipe.gluelocal.jdbc``), but does not enforce
  ``JDBC_ENFORCE_SSL``: the local PostgreSQL has no certificate;
* a job's ``ScriptLocation`` (a path that ``aws cloudformation package`` uploads) becomes the
  copy uploaded here to ``s3://<data bucket>/glue-scripts/``, and ``GlueLibraryPrefix`` points
  ``--extra-py-files`` at the library modules uploaded beside it (the local Glue runtime imports
  them from ``glue_job/`` itself);
* the state machine's definition is the file ``DefinitionS3Location`` names, with the
  ``DefinitionSubstitutions`` filled in as CloudFormation fills them;
* the functions are the Chalice app's handlers in the stack process (``flightpipe.stack.server``
  applies their environment and EventInvokeConfig); here, their events become the EventBridge
  rules SAM would generate, targeting them;
* the alerts topic also gets a local-only SQS queue subscribed to it, so notifications can be
  read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

from flightpipe.config import REPO
from flightpipe.infra import TEMPLATE, Stack, TemplateError
from flightpipe.stack import template as local
from flightpipe.stack.lambdas import chalice_functions
from flightpipe.warehouse import warehouse_from_url

log = logging.getLogger("flightpipe.provision")

STATE_MACHINE_FILE = REPO / "stepfunctions" / "pipeline.asl.json"
GLUE_JOB_DIR = REPO / "glue_job"
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
    handler_failures_url: str


@dataclass
class _Run:
    """One provisioning run: its clients and what it created (real ids, not rendered ones)."""

    session: boto3.session.Session
    endpoint_url: str | None
    region: str
    created: dict[str, str] = field(default_factory=dict)
    inboxes: dict[str, str] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
        return self._clients[service]


def provision(
    database_url: str,
    *,
    session: boto3.session.Session | None = None,
    endpoint_url: str | None = None,
    app_dir: Path = local.APP_DIR,
) -> Provisioned:
    """Provision through ``session`` (default: the environment's) at ``endpoint_url``, with
    ``database_url`` as the warehouse; apply the warehouse schema."""
    session = session or boto3.session.Session()
    run = _Run(session, endpoint_url, session.region_name or "us-east-1")
    functions = chalice_functions(app_dir, local.LOCAL_STAGE)
    stack = local.local_stack(database_url, region=run.region, functions=functions)
    resources = stack.resources()
    for logical, kind in resources.items():
        if kind not in PROVISIONED_TYPES and kind not in local.SKIPPED:
            raise TemplateError(
                f"{logical}: the local stack cannot provision {kind!r}; provision it in "
                "flightpipe/stack/provision.py or say in template.SKIPPED why it has no local use"
            )
    # Secrets first: their ARN ends in a random suffix, and the connection refers to it.
    secrets = {
        logical: _secret(run, stack, logical)
        for logical, kind in resources.items()
        if kind == _SECRET
    }
    stack = replace(stack, physical=secrets)
    for kind, provisioner in _PROVISIONERS.items():
        for logical in [name for name, k in resources.items() if k == kind]:
            provisioner(run, stack, logical)
    warehouse_from_url(database_url).apply_schema()
    topic = run.created["AlertsTopic"]
    return Provisioned(
        data_bucket=run.created["DataBucket"],
        state_machine_arn=run.created["PipelineStateMachine"],
        alerts_topic_arn=topic,
        alerts_queue_url=run.inboxes[topic],
        glue_job=run.created["DelayedFlightsJob"],
        crawler=run.created["Crawler"],
        handler_failures_url=run.created["HandlerFailures"],
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _properties(
    stack: Stack, logical: str, applied: set[str], dropped: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The resource's rendered properties that are applied locally; any property neither
    applied nor dropped (with its reason) is refused."""
    raw = stack.template["Resources"][logical].get("Properties", {})
    unknown = set(raw) - applied - set(dropped or {})
    if unknown:
        raise TemplateError(
            f"{logical} ({stack.type(logical)}): the local stack does not apply {sorted(unknown)}"
        )
    return {key: stack.property(logical, key) for key in raw if key in applied}


def _only(where: str, value: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(value) - known
    if unknown:
        raise TemplateError(f"{where}: the local stack does not apply {sorted(unknown)}")


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


def _put_unless(current: Callable[[], Any], wanted: Any, put: Callable[[], Any]) -> None:
    if current() != wanted:
        put()


def _includes(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(current.get(key) == value for key, value in wanted.items())


# --- storage -----------------------------------------------------------------------------


def _bucket(run: _Run, stack: Stack, logical: str) -> None:
    properties = _properties(
        stack,
        logical,
        {
            "BucketName",
            "VersioningConfiguration",
            "NotificationConfiguration",
            "BucketEncryption",
            "PublicAccessBlockConfiguration",
            "LifecycleConfiguration",
        },
    )
    s3, bucket = run.client("s3"), stack.ref(logical)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        if run.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": run.region}
            )
        log.info("created bucket %s", bucket)
    run.created[logical] = bucket
    if "VersioningConfiguration" in properties:
        status = properties["VersioningConfiguration"]["Status"]
        _put_unless(
            lambda: s3.get_bucket_versioning(Bucket=bucket).get("Status"),
            status,
            lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": status}
            ),
        )
    notifications = properties.get("NotificationConfiguration", {})
    _only(f"{logical}.NotificationConfiguration", notifications, {"EventBridgeConfiguration"})
    enabled = notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled", False)
    wanted: dict[str, Any] = {"EventBridgeConfiguration": {}} if enabled else {}
    _put_unless(
        lambda: _without_metadata(s3.get_bucket_notification_configuration(Bucket=bucket)),
        wanted,
        lambda: s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=wanted
        ),
    )
    if "BucketEncryption" in properties:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **(
                    {"BucketKeyEnabled": rule["BucketKeyEnabled"]}
                    if "BucketKeyEnabled" in rule
                    else {}
                ),
            }
            for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"],
        )
    if "LifecycleConfiguration" in properties:
        lifecycle = [
            lifecycle_rule(rule, f"{logical}.LifecycleConfiguration")
            for rule in properties["LifecycleConfiguration"]["Rules"]
        ]
        _put_unless(
            lambda: _lifecycle(s3, bucket),
            lifecycle,
            lambda: s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle}
            ),
        )


def lifecycle_rule(rule: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A lifecycle rule as CloudFormation writes it (``AWS::S3::Bucket`` ``Rule``) in the shape
    of S3's PutBucketLifecycleConfiguration."""
    _only(
        where,
        rule,
        {
            "Id",
            "Status",
            "Prefix",
            "ExpirationInDays",
            "NoncurrentVersionExpiration",
            "AbortIncompleteMultipartUpload",
        },
    )
    api: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule["Prefix"]} if "Prefix" in rule else {},
    }
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "NoncurrentVersionExpiration" in rule:
        expiration = rule["NoncurrentVersionExpiration"]
        _only(f"{where}.NoncurrentVersionExpiration", expiration, {"NoncurrentDays"})
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": expiration["NoncurrentDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        abort = rule["AbortIncompleteMultipartUpload"]
        _only(f"{where}.AbortIncompleteMultipartUpload", abort, {"DaysAfterInitiation"})
        api["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": abort["DaysAfterInitiation"]
        }
    return api


def _lifecycle(s3: Any, bucket: str) -> list[dict[str, Any]] | None:
    try:
        return list(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"])
    except ClientError as error:
        if _code(error) != "NoSuchLifecycleConfiguration":
            raise
        return None


def _without_metadata(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


# --- notifications and lost events -------------------------------------------------------


def _topic(run: _Run, stack: Stack, logical: str) -> None:
    properties = _properties(stack, logical, {"TopicName"})
    name = properties.get("TopicName") or stack.name(logical)
    topic_arn = str(run.client("sns").create_topic(Name=name)["TopicArn"])
    run.created[logical] = topic_arn
    run.inboxes[topic_arn] = _inbox(run, topic_arn, name + local.ALERTS_INBOX_SUFFIX)


def _inbox(run: _Run, topic_arn: str, queue_name: str) -> str:
    """A local-only SQS queue subscribed to the topic, so that every notification can be read."""
    sns, sqs = run.client("sns"), run.client("sqs")
    queue_url = str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])
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
    return queue_url


def queue_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    """``AWS::SQS::Queue`` properties as CreateQueue's attributes."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in properties.items()
        if key != "QueueName"
    }


def _queue(run: _Run, stack: Stack, logical: str) -> None:
    properties = _properties(
        stack, logical, {"QueueName", "MessageRetentionPeriod", "SqsManagedSseEnabled"}
    )
    sqs, name = run.client("sqs"), stack.name(logical)
    attributes = queue_attributes(properties)
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as error:  # exists with other attributes
        if _code(error) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        log.info("updated queue %s", name)
    run.created[logical] = str(url)


def _secret(run: _Run, stack: Stack, logical: str) -> str:
    properties = _properties(stack, logical, {"Name", "Description", "SecretString"})
    secrets, name = run.client("secretsmanager"), stack.name(logical)
    try:
        current = secrets.describe_secret(SecretId=name)
    except secrets.exceptions.ResourceNotFoundException:
        created = secrets.create_secret(
            Name=name,
            Description=properties.get("Description", ""),
            SecretString=properties["SecretString"],
        )
        log.info("created secret %s", name)
        return str(created["ARN"])
    if current.get("Description", "") != properties.get("Description", ""):
        secrets.update_secret(SecretId=name, Description=properties.get("Description", ""))
    if secrets.get_secret_value(SecretId=name)["SecretString"] != properties["SecretString"]:
        secrets.put_secret_value(SecretId=name, SecretString=properties["SecretString"])
        log.info("updated secret %s", name)
    return str(current["ARN"])


# --- catalog, crawler, jobs --------------------------------------------------------------


def _glue_entity(glue: Any, fetch: Callable[[], Any]) -> Callable[[], dict[str, Any] | None]:
    """A getter for one Glue entity that answers None when it does not exist."""

    def get() -> dict[str, Any] | None:
        try:
            return dict(fetch())
        except glue.exceptions.EntityNotFoundException:
            return None

    return get


def _glue_database(run: _Run, stack: Stack, logical: str) -> None:
    properties = _properties(stack, logical, {"CatalogId", "DatabaseInput"})
    glue, wanted = run.client("glue"), properties["DatabaseInput"]
    name = wanted["Name"]
    _ensure(
        f"Glue database {name}",
        _glue_entity(glue, lambda: glue.get_database(Name=name)["Database"]),
        lambda current: _includes(current, wanted),
        lambda: glue.create_database(CatalogId=properties["CatalogId"], DatabaseInput=wanted),
        lambda: glue.update_database(Name=name, DatabaseInput=wanted),
        lambda: glue.delete_database(Name=name),
    )
    run.created[logical] = name


def _glue_connection(run: _Run, stack: Stack, logical: str) -> None:
    properties = _properties(stack, logical, {"CatalogId", "ConnectionInput"})
    glue, wanted = run.client("glue"), properties["ConnectionInput"]
    name = wanted["Name"]
    _ensure(
        f"Glue connection {name}",
        _glue_entity(
            glue, lambda: glue.get_connection(Name=name, HidePassword=False)["Connection"]
        ),
        lambda current: _includes(current, wanted),
        lambda: glue.create_connection(CatalogId=properties["CatalogId"], ConnectionInput=wanted),
        lambda: glue.update_connection(Name=name, ConnectionInput=wanted),
        lambda: glue.delete_connection(ConnectionName=name),
    )
    run.created[logical] = name


def _crawler(run: _Run, stack: Stack, logical: str) -> None:
    definition = _properties(
        stack,
        logical,
        {"Name", "Role", "DatabaseName", "Targets", "SchemaChangePolicy", "RecrawlPolicy"},
    )
    recrawl = definition.get("RecrawlPolicy", {})
    _only(f"{logical}.RecrawlPolicy", recrawl, {"RecrawlBehavior"})
    changes = definition.get("SchemaChangePolicy", {})
    _only(f"{logical}.SchemaChangePolicy", changes, {"UpdateBehavior", "DeleteBehavior"})
    deleted = changes.get("DeleteBehavior", "DEPRECATE_IN_DATABASE")  # AWS's default
    if deleted != "LOG":
        # The local crawler never looks for removed objects (flightpipe/stack/crawler.py).
        raise TemplateError(
            f"{logical}.SchemaChangePolicy: the local crawler applies DeleteBehavior LOG only, "
            f"not {deleted}"
        )
    glue, name = run.client("glue"), definition["Name"]
    _ensure(
        f"Glue crawler {name}",
        _glue_entity(glue, lambda: glue.get_crawler(Name=name)["Crawler"]),
        lambda current: _includes(current, definition),
        lambda: glue.create_crawler(**definition),
        lambda: glue.update_crawler(**definition),
        lambda: glue.delete_crawler(Name=name),
    )
    run.created[logical] = name


JOB_PROPERTIES = {
    "Name",
    "Role",
    "GlueVersion",
    "WorkerType",
    "NumberOfWorkers",
    "Timeout",
    "MaxRetries",
    "Command",
    "DefaultArguments",
    "Connections",
    "ExecutionProperty",
}


def _glue_job(run: _Run, stack: Stack, logical: str) -> None:
    definition = _properties(stack, logical, JOB_PROPERTIES)
    command = dict(definition["Command"])
    command["ScriptLocation"] = _upload(run, script_file(command["ScriptLocation"]))
    definition["Command"] = command
    for library in definition.get("DefaultArguments", {}).get("--extra-py-files", "").split(","):
        if library.startswith(local.GLUE_SCRIPTS):
            _upload(run, GLUE_JOB_DIR / library.removeprefix(local.GLUE_SCRIPTS))
    glue, name = run.client("glue"), definition["Name"]
    update = {k: v for k, v in definition.items() if k != "Name"}
    _ensure(
        f"Glue job {name}",
        _glue_entity(glue, lambda: glue.get_job(JobName=name)["Job"]),
        lambda current: _includes(current, definition),
        lambda: glue.create_job(**definition),
        lambda: glue.update_job(JobName=name, JobUpdate=update),
        lambda: glue.delete_job(JobName=name),
    )
    run.created[logical] = name


def script_file(location: str, template: Path = TEMPLATE) -> Path:
    """The file a ``ScriptLocation`` or ``DefinitionS3Location`` path names: relative to the
    template's directory, as ``aws cloudformation package`` reads it."""
    if urlsplit(location).scheme:
        raise TemplateError(f"{location}: the local stack deploys local paths only")
    path = (template.parent / location).resolve()
    if not path.is_file():
        raise TemplateError(f"{location}: no such file ({path})")
    return path


def _upload(run: _Run, path: Path) -> str:
    """Upload a glue_job/ file to the local scripts prefix (when it changed); its URL."""
    if not path.is_file():
        raise TemplateError(f"{path}: the local stack has no such Glue script or library")
    bucket, prefix = urlsplit(local.GLUE_SCRIPTS).netloc, urlsplit(local.GLUE_SCRIPTS).path
    key = prefix.lstrip("/") + path.name
    s3, body = run.client("s3"), path.read_bytes()
    try:
        current = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError:
        current = None
    if current != body:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


# --- orchestration -----------------------------------------------------------------------


def fill_definition(text: str, substitutions: Mapping[str, str], source: str = "") -> str:
    """A definition with its ``${Name}`` placeholders replaced, as CloudFormation applies
    ``DefinitionSubstitutions``; a placeholder left unfilled or invalid JSON fails here."""
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", str(value))
    if "${" in text:
        raise TemplateError(
            f"{source}: unfilled placeholder near {text[text.index('${') :][:40]!r}"
        )
    json.loads(text)
    return text


def state_machine_definition(stack: Stack, logical: str = "PipelineStateMachine") -> str:
    """The state machine's definition as the template deploys it."""
    path = script_file(str(stack.property(logical, "DefinitionS3Location")))
    substitutions = stack.property(logical, "DefinitionSubstitutions") or {}
    return fill_definition(path.read_text(encoding="utf-8"), substitutions, str(path))


def _state_machine(run: _Run, stack: Stack, logical: str) -> None:
    properties = _properties(
        stack,
        logical,
        {"StateMachineName", "RoleArn", "DefinitionS3Location", "DefinitionSubstitutions"},
        {
            "LoggingConfiguration": "moto's interpreter would write execution logs to a log "
            "group the stack does not keep; the stack logs to .local/logs/",
        },
    )
    sfn, name = run.client("stepfunctions"), properties["StateMachineName"]
    definition, role = state_machine_definition(stack, logical), properties["RoleArn"]
    existing = {
        m["name"]: m["stateMachineArn"]
        for page in sfn.get_paginator("list_state_machines").paginate()
        for m in page["stateMachines"]
    }
    arn = existing.get(name)
    if arn is None:
        arn = sfn.create_state_machine(name=name, definition=definition, roleArn=role)[
            "stateMachineArn"
        ]
        log.info("created state machine %s", name)
    else:
        current = sfn.describe_state_machine(stateMachineArn=arn)
        if (current["definition"], current["roleArn"]) != (definition, role):
            sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role)
            log.info("updated state machine %s", name)
    run.created[logical] = str(arn)


def _function(run: _Run, stack: Stack, logical: str) -> None:
    """A Chalice function: the stack process runs it; here its events become SAM's rules."""
    _properties(
        stack,
        logical,
        {"Events"},
        {
            "Handler": "the stack process calls the Chalice app's handler in-process",
            "Environment": "set by the stack process for the handler (template.local_functions)",
            "EventInvokeConfig": "applied by the stack process (events.register_lambda)",
            "Role": "moto does not enforce IAM",
        },
    )
    events = run.client("events")
    for rule in local.function_rules(stack, logical):
        pattern = rule.pattern
        try:
            current = events.describe_rule(Name=rule.name)
            same = (json.loads(current["EventPattern"]), current["State"]) == (pattern, "ENABLED")
        except events.exceptions.ResourceNotFoundException:
            same = False
        if not same:
            events.put_rule(Name=rule.name, EventPattern=json.dumps(pattern), State="ENABLED")
            log.info("put rule %s", rule.name)
        targets = events.list_targets_by_rule(Rule=rule.name)["Targets"]
        if targets != [rule.target]:
            stale = [t["Id"] for t in targets if t["Id"] != rule.target["Id"]]
            if stale:
                events.remove_targets(Rule=rule.name, Ids=stale)
            events.put_targets(Rule=rule.name, Targets=[rule.target])
        run.created[rule.logical_id] = rule.name


_SECRET = "AWS::SecretsManager::Secret"  # provisioned before the others
# The others, in the order CloudFormation's dependencies allow.
_PROVISIONERS: dict[str, Callable[[_Run, Stack, str], None]] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::SNS::Topic": _topic,
    "AWS::SQS::Queue": _queue,
    "AWS::Glue::Database": _glue_database,
    "AWS::Glue::Connection": _glue_connection,
    "AWS::Glue::Crawler": _crawler,
    "AWS::Glue::Job": _glue_job,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Serverless::Function": _function,
}
PROVISIONED_TYPES = (_SECRET, *_PROVISIONERS)


def main(argv: list[str] | None = None) -> int:
    """Provision against ``AWS_ENDPOINT_URL`` with ``DATABASE_URL`` as the warehouse (the init
    hook in localstack/init/ready.d/ runs this); print or write what was provisioned."""
    import argparse
    import os
    from dataclasses import asdict

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--output", type=Path, help="write the provisioned names here (JSON)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        raise SystemExit("DATABASE_URL is required: the warehouse the Glue connection names")
    provisioned = json.dumps(asdict(provision(database_url)), indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(provisioned + "\n", encoding="utf-8")
    print(provisioned)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
