"""The local stack is the template ``make package`` deploys, for the stage ``local``.

The deployed side: ``chalice package --merge-template infra/pipeline.yaml`` (as make package
runs it), rendered by ``flightpipe.infra`` for Stage=local with the local stack's parameter
values. The local side: moto, in-process, provisioned as ``flightpipe local up`` provisions the
stack, and read back through the AWS APIs. Each resource is compared item by item; a difference
fails with a diff of the two. What the local stack does not apply is named here with its reason.

SAM's naming, which the local rules follow, is from aws/serverless-application-model,
``samtranslator/model/eventsources/push.py`` (``CloudWatchEvent``: the rule's logical id is the
function's followed by the event's, its target ``<rule logical id>LambdaTarget``), at commit
00214a2e7c29939cec954aad684d92faae132960.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from flightpipe.infra import Stack, load
from flightpipe.stack import moto_answers
from flightpipe.stack import template as local
from flightpipe.stack.lambdas import chalice_functions
from flightpipe.stack.provision import (
    PROVISIONED_TYPES,
    Provisioned,
    lifecycle_rule,
    provision,
    script_file,
)
from tests.conftest import REPO
from tests.functional.conftest import chalice_package

pytestmark = pytest.mark.functional

BIN = Path(sys.executable).parent
REGION = "us-east-1"
# make package writes dist/sam.yaml; its relative paths are read from there.
PACKAGED_AT = REPO / "dist" / "sam.yaml"
# Properties of the packaged functions that the in-process handlers do not emulate.
NOT_EMULATED = {
    "Architectures": "the handler runs in the stack's Python",
    "CodeUri": "the handler is imported from chalice_app/, not unpacked from the package",
    "MemorySize": "no memory limit in-process",
    "Runtime": "the stack's Python 3.11, as the runtime's",
    "Tags": "no Lambda API locally",
    "Timeout": "no time limit in-process",
    "Tracing": "no X-Ray locally",
    "Role": "moto does not enforce IAM",
}


def same(
    what: str,
    deployed: Any,
    local_value: Any,
    labels: tuple[str, str] = ("the packaged template", "the local stack"),
) -> None:
    """Fail with a readable diff when the two differ."""
    if deployed == local_value:
        return
    a = json.dumps(deployed, indent=2, sort_keys=True, default=str).splitlines()
    b = json.dumps(local_value, indent=2, sort_keys=True, default=str).splitlines()
    diff = "\n".join(difflib.unified_diff(a, b, *labels, lineterm=""))
    pytest.fail(f"{what} differs between {labels[0]} and {labels[1]}:\n{diff}")


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load(chalice_package(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """moto in-process for the module, as the functional tests' ``moto`` fixture, with the
    answers the stack fixes (moto_answers)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        for name, value in (
            ("AWS_DEFAULT_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ):
            patch.setenv(name, value)
        moto_answers.apply()
        with mock_aws():
            yield


@pytest.fixture(scope="module")
def provisioned(aws: None, scratch_database: str) -> Provisioned:
    return provision(scratch_database, session=boto3.session.Session(region_name=REGION))


@pytest.fixture(scope="module")
def deployed(packaged: dict[str, Any], provisioned: Provisioned, scratch_database: str) -> Stack:
    """The packaged template rendered for the local stack, with the secret's real ARN."""
    rendered = local.render(packaged, scratch_database, region=REGION)
    secret = client("secretsmanager").describe_secret(SecretId=rendered.name("WarehouseSecret"))
    functions = chalice_functions(local.APP_DIR, local.LOCAL_STAGE)
    return local.render(
        packaged,
        scratch_database,
        region=REGION,
        function_names={f.logical_id: f.name for f in functions},
        secrets={"WarehouseSecret": secret["ARN"]},
    )


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def of_type(stack: Stack, kind: str) -> list[str]:
    return [logical for logical, k in stack.resources().items() if k == kind]


def subset(answer: dict[str, Any], keys: Any) -> dict[str, Any]:
    return {key: answer.get(key) for key in keys}


def test_the_local_stack_has_every_resource_the_package_has(deployed):
    in_process = local.local_stack(
        region=REGION, functions=chalice_functions(local.APP_DIR, local.LOCAL_STAGE)
    )
    same("the resources", deployed.resources(), in_process.resources())
    for logical, kind in deployed.resources().items():
        assert kind in local.SKIPPED or kind in PROVISIONED_TYPES, (
            f"{logical} ({kind}) is neither provisioned nor skipped with a reason"
        )


def test_glue_jobs(deployed, provisioned):
    s3 = client("s3")
    jobs = of_type(deployed, "AWS::Glue::Job")
    assert len(jobs) == 2
    for logical in jobs:
        wanted = deployed.properties(logical)
        job = client("glue").get_job(JobName=wanted["Name"])["Job"]
        # ScriptLocation is a path `aws cloudformation package` uploads: the same bytes must run.
        script = script_file(wanted["Command"]["ScriptLocation"], PACKAGED_AT)
        bucket, _, key = job["Command"]["ScriptLocation"].removeprefix("s3://").partition("/")
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == script.read_bytes()
        wanted["Command"]["ScriptLocation"] = job["Command"]["ScriptLocation"]
        for library in wanted["DefaultArguments"]["--extra-py-files"].split(","):
            bucket, _, key = library.removeprefix("s3://").partition("/")
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert body == (REPO / "glue_job" / Path(key).name).read_bytes(), library
        same(f"Glue job {wanted['Name']}", wanted, subset(job, wanted))


def test_crawler(deployed, provisioned):
    (logical,) = of_type(deployed, "AWS::Glue::Crawler")
    wanted = deployed.properties(logical)
    # The local crawler honours both (flightpipe/stack/crawler.py): compared like the rest.
    assert {"RecrawlPolicy", "SchemaChangePolicy"} <= set(wanted)
    crawler = client("glue").get_crawler(Name=wanted["Name"])["Crawler"]
    same(f"crawler {wanted['Name']}", wanted, subset(crawler, wanted))
    assert provisioned.crawler == wanted["Name"]


def test_database_and_connection(deployed, scratch_database):
    glue = client("glue")
    (database,) = of_type(deployed, "AWS::Glue::Database")
    wanted = deployed.properties(database)
    found = glue.get_database(Name=wanted["DatabaseInput"]["Name"])["Database"]
    same(
        "Glue database",
        wanted,
        {"CatalogId": found["CatalogId"], "DatabaseInput": subset(found, wanted["DatabaseInput"])},
    )

    (connection,) = of_type(deployed, "AWS::Glue::Connection")
    wanted = deployed.properties(connection)["ConnectionInput"]
    found = glue.get_connection(Name=wanted["Name"], HidePassword=False)["Connection"]
    same("Glue connection", wanted, subset(found, wanted))


def test_the_connection_secret_holds_the_local_warehouse_user(deployed, scratch_database):
    from urllib.parse import urlsplit

    from flightpipe.gluelocal.jdbc import connection_conf

    (secret,) = of_type(deployed, "AWS::SecretsManager::Secret")
    wanted = deployed.properties(secret)
    found = client("secretsmanager").get_secret_value(SecretId=deployed.ref(secret))
    same("warehouse secret", json.loads(wanted["SecretString"]), json.loads(found["SecretString"]))
    (connection,) = of_type(deployed, "AWS::Glue::Connection")
    name = deployed.property(connection, "ConnectionInput", "Name")
    conf = connection_conf(client("glue"), name)
    assert conf.user == urlsplit(scratch_database).username
    assert conf.url == deployed.property(
        connection, "ConnectionInput", "ConnectionProperties", "JDBC_CONNECTION_URL"
    )


def test_state_machine(deployed, provisioned):
    (logical,) = of_type(deployed, "AWS::StepFunctions::StateMachine")
    wanted = deployed.properties(logical)
    path = script_file(wanted["DefinitionS3Location"], PACKAGED_AT)
    definition = path.read_text()
    for key, value in wanted["DefinitionSubstitutions"].items():
        definition = definition.replace("${" + key + "}", value)
    found = client("stepfunctions").describe_state_machine(
        stateMachineArn=provisioned.state_machine_arn
    )
    assert provisioned.state_machine_arn == deployed.ref(logical)
    same("state machine name", wanted["StateMachineName"], found["name"])
    same("state machine role", wanted["RoleArn"], found["roleArn"])
    same("state machine definition", json.loads(definition), json.loads(found["definition"]))


def test_rules_and_their_targets(deployed):
    events = client("events")
    functions = of_type(deployed, "AWS::Serverless::Function")
    assert functions
    for function in functions:
        for event, spec in deployed.property(function, "Events").items():
            properties = spec["Properties"]
            name = f"{local.STACK_NAME}-{function}{event}"
            rule = events.describe_rule(Name=name)
            same(f"rule {name} pattern", properties["Pattern"], json.loads(rule["EventPattern"]))
            assert rule["State"] == "ENABLED"
            wanted = [
                {
                    "Id": f"{function}{event}LambdaTarget",
                    "Arn": deployed.get_att(function, "Arn"),
                    "DeadLetterConfig": properties["DeadLetterConfig"],
                }
            ]
            same(f"rule {name} targets", wanted, events.list_targets_by_rule(Rule=name)["Targets"])


def test_the_rules_are_the_ones_the_dead_letter_queue_accepts(deployed):
    """HandlerFailuresPolicy admits rules named after the stack; the local rules are."""
    statement = deployed.property("HandlerFailuresPolicy", "PolicyDocument", "Statement")[0]
    pattern = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    for rule in client("events").list_rules(NamePrefix=local.STACK_NAME)["Rules"]:
        assert fnmatch.fnmatchcase(rule["Arn"], pattern), (rule["Arn"], pattern)


def test_handlers_environment_and_failure_handling(deployed):
    queue_arns = {
        url.rsplit("/", 1)[-1]: client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for url in client("sqs").list_queues()["QueueUrls"]
    }
    functions = local.local_functions(local.APP_DIR, local.LOCAL_STAGE, REGION)
    by_logical = {f.logical_id: settings for f, settings in functions}
    for function in of_type(deployed, "AWS::Serverless::Function"):
        raw = set(deployed.template["Resources"][function]["Properties"])
        unexplained = raw - {"Handler", "Events", "Environment", "EventInvokeConfig"}
        assert unexplained <= set(NOT_EMULATED), unexplained - set(NOT_EMULATED)
        settings = by_logical[function]
        same(
            f"{function} environment",
            deployed.property(function, "Environment", "Variables"),
            settings.environment,
        )
        invoke = deployed.property(function, "EventInvokeConfig")
        same(
            f"{function} EventInvokeConfig",
            {
                "retries": invoke["MaximumRetryAttempts"],
                "on failure": invoke["DestinationConfig"]["OnFailure"]["Destination"],
            },
            {"retries": settings.max_retries, "on failure": settings.on_failure},
        )
        assert settings.on_failure in queue_arns.values(), "the destination queue exists"


def test_topic_and_queues(deployed, provisioned):
    sqs = client("sqs")
    (topic,) = of_type(deployed, "AWS::SNS::Topic")
    assert provisioned.alerts_topic_arn == deployed.ref(topic)
    topics = [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
    assert deployed.ref(topic) in topics
    for logical in of_type(deployed, "AWS::SQS::Queue"):
        wanted = deployed.properties(logical)
        url = sqs.get_queue_url(QueueName=wanted.pop("QueueName"))["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        same(
            f"queue {logical}",
            {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in wanted.items()},
            subset(attributes, wanted),
        )
        assert attributes["QueueArn"] == deployed.get_att(logical, "Arn")


def test_buckets(deployed, provisioned):
    s3 = client("s3")
    for logical in of_type(deployed, "AWS::S3::Bucket"):
        wanted = deployed.properties(logical)
        bucket = deployed.ref(logical)
        found: dict[str, Any] = {}
        if "VersioningConfiguration" in wanted:
            found["VersioningConfiguration"] = {
                "Status": s3.get_bucket_versioning(Bucket=bucket).get("Status")
            }
        if "NotificationConfiguration" in wanted:
            answer = s3.get_bucket_notification_configuration(Bucket=bucket)
            found["NotificationConfiguration"] = {
                "EventBridgeConfiguration": {
                    "EventBridgeEnabled": "EventBridgeConfiguration" in answer
                }
            }
        if "BucketEncryption" in wanted:
            rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
            found["BucketEncryption"] = {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": r["ApplyServerSideEncryptionByDefault"]}
                    for r in rules["Rules"]
                ]
            }
        if "PublicAccessBlockConfiguration" in wanted:
            found["PublicAccessBlockConfiguration"] = s3.get_public_access_block(Bucket=bucket)[
                "PublicAccessBlockConfiguration"
            ]
        if "LifecycleConfiguration" in wanted:
            wanted["LifecycleConfiguration"] = [
                lifecycle_rule(rule, logical) for rule in wanted["LifecycleConfiguration"]["Rules"]
            ]
            found["LifecycleConfiguration"] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)[
                "Rules"
            ]
        same(f"bucket {logical}", wanted, found)
    assert provisioned.data_bucket == deployed.ref("DataBucket") == local.DATA_BUCKET


def test_provisioning_again_changes_nothing(provisioned, scratch_database, caplog):
    glue, sfn, events = client("glue"), client("stepfunctions"), client("events")

    def snapshot() -> Any:
        return {
            "jobs": [glue.get_job(JobName=n)["Job"] for n in glue.list_jobs()["JobNames"]],
            "crawler": glue.get_crawler(Name=provisioned.crawler)["Crawler"],
            "connections": glue.get_connections(HidePassword=False)["ConnectionList"],
            "machine": {
                k: v
                for k, v in sfn.describe_state_machine(
                    stateMachineArn=provisioned.state_machine_arn
                ).items()
                if k != "ResponseMetadata"
            },
            "rules": [
                (r, events.list_targets_by_rule(Rule=r["Name"])["Targets"])
                for r in events.list_rules()["Rules"]
            ],
        }

    before = snapshot()
    with caplog.at_level(logging.INFO, logger="flightpipe.provision"):
        again = provision(scratch_database, session=boto3.session.Session(region_name=REGION))
    assert again == provisioned
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    same("the resources", before, snapshot(), ("the first provisioning", "the second"))


@pytest.mark.parametrize(
    ("key", "starts_work"),
    [
        ("daily_flights/date=2013-01-01/flights.csv", True),
        ("dim/airports.csv", True),
        ("glue-temp/run-1/part-0000.csv", False),
        ("run-reports/date=2013-01-01/jr_1.json", False),
        ("quarantine/date=2013-01-01/run=jr_1/rows.jsonl", False),
        ("accepted/airports.csv", False),
        ("glue-scripts/delayed_flights.py", False),
        ("dim/airports.csv.tmp", False),
    ],
)
def test_the_packaged_upload_rule_keeps_the_pipelines_own_writes_from_the_handler(
    packaged, key, starts_work
):
    stack = local.render(packaged, region=REGION)
    pattern = stack.property("OnObjectCreated", "Events", "OnObjectCreatedEvent", "Properties")[
        "Pattern"
    ]
    event = {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "region": REGION,
        "detail": {"bucket": {"name": stack.ref("DataBucket")}, "object": {"key": key}},
    }
    assert EventPattern.load(json.dumps(pattern)).matches_event(event) is starts_work
    other_bucket = {**event, "detail": {**event["detail"], "bucket": {"name": "elsewhere"}}}
    assert not EventPattern.load(json.dumps(pattern)).matches_event(other_bucket)
