"""The deployed local stack is the template ``flightpipe local up`` packaged, for the stage local.

One side: the packaged template as deployed (``<state dir>/dist/packaged.yaml``, what
``deploy_local`` gave CloudFormation: ``chalice package --merge-template infra/pipeline.yaml``,
then ``aws cloudformation package``). The other: what LocalStack's services report for the
stack's resources (``describe_stack_resources``, then each service's own API), read as a user
reads them. The template's intrinsics are resolved here from the stack itself: ``Ref`` is a
resource's physical id or a parameter's deployed value, ``Fn::GetAtt`` what the resource's
service answers (a queue's ARN from SQS, a role's from IAM, ...). A difference fails with a
diff of the two.

What LocalStack 4.13.1 does not apply of a property the template sets is a strict xfail here,
with where LocalStack drops it: the test fails once LocalStack (or a patch) applies it.

SAM's expansion of the Chalice functions, which the resource names follow: samtranslator
1.115.0 (LocalStack's virtualenv), ``model/sam_resources.py`` (an event's resources are named
by the function's logical id followed by the event's, line 1051; the invoke configuration
``<function>EventInvokeConfig``, line 521) and ``model/eventsources/push.py``
(``CloudWatchEvent``: the rule, its permission ``<rule>Permission``, its target
``<rule>LambdaTarget``).
"""

from __future__ import annotations

import base64
import difflib
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from flightpipe.infra import job_archive
from flightpipe.infra.template import TEMPLATE, load
from flightpipe.stack.deploy import deploy_local, stack_name

STAGE = "local"
NO_VALUE = object()  # what !Ref AWS::NoValue evaluates to
NAME = stack_name(STAGE)
# Left out of the stage local by the template's conditions, each for a reason (the template
# says it next to the resource): a resource added behind a condition is added here with its.
LEFT_OUT = {
    "TrailBucket": "no CloudTrail in LocalStack community; nothing audits local uploads",
    "TrailBucketPolicy": "the trail's bucket",
    "DataEventsTrail": "no CloudTrail in LocalStack community",
    "AlertsEmail": "no one confirms an email subscription locally (the inbox queue reads alerts)",
    "GlueSecurityGroupSelfRule": "no VPC locally; no AWS::EC2::SecurityGroupIngress in community",
    "S3GatewayEndpoint": "no VPC locally",
    "GlueEndpoint": "no VPC locally",
    "SecretsManagerEndpoint": "no VPC locally",
    "LogsEndpoint": "no VPC locally",
    "StsEndpoint": "no VPC locally",
}
# Kept for the stage local only: alerts readable from a queue.
LOCAL_ONLY = {"AlertsInbox", "AlertsInboxPolicy", "AlertsInboxSubscription"}


def same(what: str, template: Any, deployed: Any) -> None:
    """Fail with a readable diff when the two differ."""
    if template == deployed:
        return
    a = json.dumps(template, indent=2, sort_keys=True, default=str).splitlines()
    b = json.dumps(deployed, indent=2, sort_keys=True, default=str).splitlines()
    diff = "\n".join(difflib.unified_diff(a, b, "the template", "the stack", lineterm=""))
    pytest.fail(f"{what} differs between the template and the deployed stack:\n{diff}")


@dataclass(frozen=True)
class Deployed:
    """The packaged template, and the stack LocalStack's CloudFormation made of it."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str]
    stack_id: str
    resources: Mapping[str, dict[str, Any]]  # logical id -> describe_stack_resources' entry
    client: Callable[[str], Any]

    # --- the template, resolved against the stack ------------------------------------------

    def kept(self, logical: str) -> bool:
        condition = self.template["Resources"][logical].get("Condition")
        return condition is None or self.condition(condition)

    def of_type(self, kind: str) -> list[str]:
        return [
            logical
            for logical, resource in self.template["Resources"].items()
            if resource["Type"] == kind and self.kept(logical)
        ]

    def properties(self, logical: str, *names: str) -> dict[str, Any]:
        """The resource's Properties (only ``names`` when given), resolved."""
        given = self.template["Resources"][logical].get("Properties", {})
        chosen = {name: given[name] for name in names} if names else given
        return dict(self.resolve(chosen))

    def physical(self, logical: str) -> str:
        return str(self.resources[logical]["PhysicalResourceId"])

    def condition(self, name: str) -> bool:
        return self._condition(self.template["Conditions"][name])

    def _condition(self, node: Any) -> bool:
        ((function, argument),) = node.items()
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            return bool(self.resolve(argument[0]) == self.resolve(argument[1]))
        if function == "Fn::Not":
            return not self._condition(argument[0])
        if function == "Fn::And":
            return all(self._condition(item) for item in argument)
        if function == "Fn::Or":
            return any(self._condition(item) for item in argument)
        raise AssertionError(f"condition function {function} is not known to this test")

    def resolve(self, node: Any) -> Any:
        """``node`` evaluated; ``AWS::NoValue`` removes the list item or key it is the value of
        (CloudFormation's pseudo parameters reference)."""
        if isinstance(node, list):
            return [r for r in map(self.resolve, node) if r is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Fn::GetAtt":
                logical, attribute = (
                    argument.split(".", 1) if isinstance(argument, str) else argument
                )
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                return self.sub(argument)
            if key == "Fn::If":
                condition, if_true, if_false = argument
                return self.resolve(if_true if self.condition(condition) else if_false)
            if key == "Fn::Join":
                return str(argument[0]).join(self.resolve(argument[1]))
            if key == "Fn::Select":
                return self.resolve(argument[1])[int(self.resolve(argument[0]))]
            if key == "Fn::Split":
                return str(self.resolve(argument[1])).split(argument[0])
            if key == "Fn::FindInMap":
                mapping, top, second = (self.resolve(part) for part in argument)
                return self.template["Mappings"][mapping][top][second]
            if key.startswith("Fn::"):
                raise AssertionError(f"{key} is not known to this test")
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def ref(self, name: str) -> Any:
        arn = self.stack_id.split(":")
        pseudo = {
            "AWS::Partition": arn[1],
            "AWS::Region": arn[3],
            "AWS::AccountId": arn[4],
            "AWS::StackName": NAME,
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        declared = self.template["Parameters"].get(name)
        if declared is not None:
            value = self.parameters[name]
            assert not declared.get("NoEcho"), f"{name} is NoEcho: CloudFormation does not say it"
            return value.split(",") if declared["Type"] == "CommaDelimitedList" and value else value
        return self.physical(name)

    def sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        out, rest = [], text
        while "${" in rest:
            before, _, after = rest.partition("${")
            variable, _, rest = after.partition("}")
            out.append(before)
            if variable.startswith("!"):
                out.append("${" + variable[1:] + "}")
            elif variable in variables:
                out.append(str(self.resolve(variables[variable])))
            elif "." in variable and not variable.startswith("AWS::"):
                out.append(str(self.get_att(*variable.split(".", 1))))
            else:
                out.append(str(self.ref(variable)))
        return "".join(out) + rest

    def get_att(self, logical: str, attribute: str) -> str:
        """The attribute as the resource's own service reports it."""
        kind = self.template["Resources"][logical]["Type"]
        physical = self.physical(logical)
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            # No S3 API answers a bucket's ARN; its form is fixed (Amazon S3 User Guide,
            # "Policy resources": arn:aws:s3:::bucket-name).
            return f"arn:{self.ref('AWS::Partition')}:s3:::{physical}"
        if kind == "AWS::SQS::Queue" and attribute in ("Arn", "QueueName"):
            arn = self.client("sqs").get_queue_attributes(
                QueueUrl=physical, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            return str(arn if attribute == "Arn" else arn.rsplit(":", 1)[1])
        if (kind, attribute) == ("AWS::IAM::Role", "Arn"):
            return str(self.client("iam").get_role(RoleName=physical)["Role"]["Arn"])
        if (kind, attribute) == ("AWS::Logs::LogGroup", "Arn"):
            (group,) = [
                g
                for g in self.client("logs").describe_log_groups(logGroupNamePrefix=physical)[
                    "logGroups"
                ]
                if g["logGroupName"] == physical
            ]
            return str(group["arn"])
        if (kind, attribute) == ("AWS::StepFunctions::StateMachine", "Name"):
            return str(
                self.client("stepfunctions").describe_state_machine(stateMachineArn=physical)[
                    "name"
                ]
            )
        if (kind, attribute) == ("AWS::Serverless::Function", "Arn"):
            answer = self.client("lambda").get_function_configuration(FunctionName=physical)
            return str(answer["FunctionArn"])
        raise AssertionError(f"Fn::GetAtt {logical}.{attribute} ({kind}) is not known to this test")

    def with_parameters(self, **values: str) -> Deployed:
        return replace(self, parameters={**self.parameters, **values})


@pytest.fixture(scope="module")
def deployed(stack) -> Deployed:
    template = load(stack.settings.state_dir / "dist" / "packaged.yaml")
    cloudformation = stack.client("cloudformation")
    described = cloudformation.describe_stacks(StackName=NAME)["Stacks"][0]
    resources = cloudformation.describe_stack_resources(StackName=NAME)["StackResources"]
    return Deployed(
        template=template,
        parameters={p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]},
        stack_id=described["StackId"],
        resources={r["LogicalResourceId"]: r for r in resources},
        client=stack.client,
    )


def s3_object(deployed: Deployed, location: str | Mapping[str, str]) -> bytes:
    """An object ``aws cloudformation package`` uploaded: ``s3://bucket/key`` or
    ``{"Bucket", "Key"}``."""
    if isinstance(location, str):
        bucket, _, key = location.removeprefix("s3://").partition("/")
    else:
        bucket, key = location["Bucket"], location["Key"]
    return bytes(deployed.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def source_file(logical: str, *path: str) -> Path:
    """The repository file infra/pipeline.yaml names at ``path`` of the resource's Properties
    (a path relative to the template, which packaging uploads)."""
    node: Any = load(TEMPLATE)["Resources"][logical]["Properties"]
    for key in path:
        node = node[key]
    return (TEMPLATE.parent / node).resolve()


# --- resources -------------------------------------------------------------------------------


def expected_resources(deployed: Deployed) -> dict[str, str]:
    """{logical id: type} of what CloudFormation creates from the template for the stage, with
    SAM's expansion of each function."""
    expected = {}
    for logical, resource in deployed.template["Resources"].items():
        if not deployed.kept(logical):
            continue
        if resource["Type"] != "AWS::Serverless::Function":
            expected[logical] = resource["Type"]
            continue
        properties = resource["Properties"]
        expected[logical] = "AWS::Lambda::Function"
        if "EventInvokeConfig" in properties:
            expected[f"{logical}EventInvokeConfig"] = "AWS::Lambda::EventInvokeConfig"
        for event in properties.get("Events", {}):
            expected[f"{logical}{event}"] = "AWS::Events::Rule"
            expected[f"{logical}{event}Permission"] = "AWS::Lambda::Permission"
    return expected


def test_every_resource_the_template_keeps_for_the_stage_is_deployed_and_nothing_else(deployed):
    found = {logical: r["ResourceType"] for logical, r in deployed.resources.items()}
    same("the stack's resources", expected_resources(deployed), found)
    statuses = {r["ResourceStatus"] for r in deployed.resources.values()}
    assert statuses <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}, statuses


def test_what_the_stage_leaves_out_is_left_out_by_its_conditions(deployed):
    """Each resource the stage local goes without is named with its reason, and the same
    parameters with a deployed stage (each VPC endpoint asked for: none is by default) would
    create it: the stage, not an accident of another parameter, leaves it out."""
    left_out = {logical for logical in deployed.template["Resources"] if not deployed.kept(logical)}
    same("the resources left out", sorted(LEFT_OUT), sorted(left_out))
    switches = [
        name for name in deployed.template["Parameters"] if re.fullmatch(r"Create\w+Endpoint", name)
    ]
    as_deployed = deployed.with_parameters(Stage="dev", **dict.fromkeys(switches, "true"))
    assert all(as_deployed.kept(logical) for logical in left_out)
    assert {logical for logical in LOCAL_ONLY if not as_deployed.kept(logical)} == LOCAL_ONLY
    assert set(deployed.resources) >= LOCAL_ONLY


def test_the_stacks_outputs_are_the_templates(stack, deployed):
    """What the local tooling reads the pipeline from (``config.Pipeline``, ``stack.env``)."""
    cloudformation = stack.client("cloudformation")
    outputs = cloudformation.describe_stacks(StackName=NAME)["Stacks"][0]["Outputs"]
    wanted = {
        name: deployed.resolve(output["Value"])
        for name, output in deployed.template["Outputs"].items()
        if "Condition" not in output or deployed.condition(output["Condition"])
    }
    same("the stack's outputs", wanted, {o["OutputKey"]: o["OutputValue"] for o in outputs})
    assert stack.pipeline.data_bucket == deployed.physical("DataBucket")


# --- storage -----------------------------------------------------------------------------------


def test_the_data_bucket_is_versioned_and_sends_its_events_to_eventbridge(deployed):
    s3 = deployed.client("s3")
    wanted = deployed.properties("DataBucket")
    bucket = deployed.physical("DataBucket")
    notifications = s3.get_bucket_notification_configuration(Bucket=bucket)
    found = {
        "VersioningConfiguration": {"Status": s3.get_bucket_versioning(Bucket=bucket)["Status"]},
        "NotificationConfiguration": {
            "EventBridgeConfiguration": {
                "EventBridgeEnabled": "EventBridgeConfiguration" in notifications
            }
        },
        # LocalStack 4.13.1's bucket provider applies neither (aws_s3_bucket.py, create): what
        # S3 reports is its default for every bucket, which is AWS's default too and the
        # template's value.
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": rule["ApplyServerSideEncryptionByDefault"]}
                for rule in s3.get_bucket_encryption(Bucket=bucket)[
                    "ServerSideEncryptionConfiguration"
                ]["Rules"]
            ]
        },
        "PublicAccessBlockConfiguration": s3.get_public_access_block(Bucket=bucket)[
            "PublicAccessBlockConfiguration"
        ],
    }
    same("the data bucket", {key: wanted[key] for key in found}, found)


def test_the_data_bucket_policy_refuses_plain_http(deployed):
    wanted = deployed.properties("DataBucketPolicy")
    policy = deployed.client("s3").get_bucket_policy(Bucket=wanted["Bucket"])["Policy"]
    same("the data bucket's policy", wanted["PolicyDocument"], json.loads(policy))


def lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A lifecycle rule as CloudFormation writes it (``AWS::S3::Bucket`` ``Rule``) in the shape
    GetBucketLifecycleConfiguration answers (Amazon S3 API Reference, ``LifecycleRule``)."""
    api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
    api["Filter"] = {"Prefix": rule["Prefix"]} if "Prefix" in rule else {}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "ExpiredObjectDeleteMarker" in rule:
        api["Expiration"] = {"ExpiredObjectDeleteMarker": rule["ExpiredObjectDeleteMarker"]}
    for name in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
        if name in rule:
            api[name] = dict(rule[name])
    return api


@pytest.mark.xfail(
    strict=True,
    reason="LocalStack 4.13.1's AWS::S3::Bucket provider ignores LifecycleConfiguration "
    "(services/s3/resource_providers/aws_s3_bucket.py, create)",
)
def test_the_data_bucket_expires_temporary_files_and_old_versions(deployed):
    wanted = deployed.properties("DataBucket")["LifecycleConfiguration"]["Rules"]
    found = deployed.client("s3").get_bucket_lifecycle_configuration(
        Bucket=deployed.physical("DataBucket")
    )["Rules"]
    same("the data bucket's lifecycle", [lifecycle_rule(rule) for rule in wanted], found)


@pytest.mark.xfail(
    strict=True,
    reason="LocalStack 4.13.1's AWS::S3::Bucket provider creates a bucket without AccessControl "
    "as PublicRead (aws_s3_bucket.py, _create_bucket_if_does_not_exist)",
)
def test_the_data_bucket_grants_nothing_to_everyone(deployed):
    """The template sets no AccessControl: CloudFormation creates the bucket with S3's default
    ACL, the owner's FULL_CONTROL only (Amazon S3 User Guide, "Access control list (ACL)
    overview": a new bucket's default ACL)."""
    grants = deployed.client("s3").get_bucket_acl(Bucket=deployed.physical("DataBucket"))["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"], grants


# --- notifications and lost events ---------------------------------------------------------


def test_queues_have_the_templates_attributes_and_policies(deployed):
    sqs = deployed.client("sqs")
    queues = deployed.of_type("AWS::SQS::Queue")
    assert sorted(queues) == ["AlertsInbox", "HandlerFailures"]
    for logical in queues:
        wanted = deployed.properties(logical)
        url = deployed.physical(logical)
        assert sqs.get_queue_url(QueueName=wanted.pop("QueueName"))["QueueUrl"] == url
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        same(
            f"queue {logical}",
            {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in wanted.items()},
            {k: attributes.get(k) for k in wanted},
        )
    for logical in deployed.of_type("AWS::SQS::QueuePolicy"):
        wanted = deployed.properties(logical)
        for url in wanted["Queues"]:
            policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
            same(
                f"{logical} on {url}",
                wanted["PolicyDocument"],
                json.loads(policy["Attributes"]["Policy"]),
            )


def test_the_alerts_topic_delivers_to_the_inbox_queue(deployed):
    sns = deployed.client("sns")
    topic = deployed.physical("AlertsTopic")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert (
        attributes["TopicArn"].rsplit(":", 1)[1] == deployed.properties("AlertsTopic")["TopicName"]
    )
    wanted = deployed.properties("AlertsInboxSubscription")
    subscription = sns.get_subscription_attributes(
        SubscriptionArn=deployed.physical("AlertsInboxSubscription")
    )["Attributes"]
    same(
        "the inbox subscription",
        {**wanted, "RawMessageDelivery": str(wanted["RawMessageDelivery"]).lower()},
        {key: subscription.get(key) for key in wanted},
    )


def test_the_handler_failures_alarm_watches_the_queue_and_alerts(deployed):
    wanted = deployed.properties("HandlerFailuresAlarm")
    (alarm,) = deployed.client("cloudwatch").describe_alarms(AlarmNames=[wanted["AlarmName"]])[
        "MetricAlarms"
    ]
    wanted["Threshold"] = float(wanted["Threshold"])
    same("the handler failures alarm", wanted, {key: alarm.get(key) for key in wanted})


# --- warehouse connection, catalog, crawler, jobs ----------------------------------------------


def test_the_warehouse_secret_holds_the_local_warehouse_user(stack, deployed):
    """Written by ``Fn::ToJsonString`` from the WarehouseUser and WarehousePassword parameters
    (NoEcho: compared with the database URL they were taken from), read by the job as Glue
    reads a connection's SECRET_ID."""
    from urllib.parse import unquote, urlsplit

    from flightpipe.gluelocal.jdbc import connection_conf

    # SecretString (Fn::ToJsonString of NoEcho parameters) is compared below, with the URL.
    wanted = deployed.properties("WarehouseSecret", "Name", "Description")
    secrets = deployed.client("secretsmanager")
    arn = deployed.physical("WarehouseSecret")
    described = secrets.describe_secret(SecretId=arn)
    assert (described["Name"], described["Description"]) == (wanted["Name"], wanted["Description"])
    url = urlsplit(stack.database_url)
    same(
        "the warehouse secret",
        {"username": unquote(url.username or ""), "password": unquote(url.password or "")},
        json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]),
    )
    conf = connection_conf(deployed.client("glue"), stack.pipeline.glue_connection, secrets=secrets)
    assert conf.user == unquote(url.username or "")
    assert conf.url == deployed.parameters["WarehouseJdbcUrl"]


def test_the_glue_database_and_connection(deployed):
    glue = deployed.client("glue")
    wanted = deployed.properties("GlueDatabase")
    found = glue.get_database(Name=wanted["DatabaseInput"]["Name"])["Database"]
    same(
        "the Glue database",
        wanted,
        {"CatalogId": found["CatalogId"], "DatabaseInput": {"Name": found["Name"]}},
    )
    wanted = deployed.properties("WarehouseConnection")["ConnectionInput"]
    connection = glue.get_connection(
        Name=deployed.physical("WarehouseConnection"), HidePassword=False
    )["Connection"]
    same("the warehouse connection", wanted, {key: connection.get(key) for key in wanted})


def test_the_glue_connection_enforces_tls_against_the_warehouses_ca(stack, deployed):
    """The connection is deployed as on AWS (JDBC_ENFORCE_SSL), and its CUSTOM_JDBC_CERT is the
    CA that issued the local warehouse's certificate, uploaded beside the artifacts."""
    properties = deployed.client("glue").get_connection(
        Name=deployed.physical("WarehouseConnection")
    )["Connection"]["ConnectionProperties"]
    assert properties["JDBC_ENFORCE_SSL"] == "true"
    if stack.root_certificate is None:
        assert "CUSTOM_JDBC_CERT" not in properties
        return
    bucket, _, key = properties["CUSTOM_JDBC_CERT"].removeprefix("s3://").partition("/")
    body = deployed.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == stack.root_certificate.read_bytes()


def test_the_glue_connection_says_its_type(deployed):
    """AWS Glue API, GetConnection: the Connection holds its ConnectionType."""
    wanted = deployed.properties("WarehouseConnection")["ConnectionInput"]["ConnectionType"]
    connection = deployed.client("glue").get_connection(
        Name=deployed.physical("WarehouseConnection")
    )["Connection"]
    assert connection.get("ConnectionType") == wanted


def test_the_crawler(deployed):
    wanted = deployed.properties("Crawler")
    # The Glue service crawls as they say (flightpipe/stack/crawler.py): compared like the rest.
    assert {"RecrawlPolicy", "SchemaChangePolicy"} <= set(wanted)
    crawler = deployed.client("glue").get_crawler(Name=deployed.physical("Crawler"))["Crawler"]
    same("the crawler", wanted, {key: crawler.get(key) for key in wanted})


@pytest.mark.parametrize("logical", ["DelayedFlightsJob", "LoadAirportsJob"])
def test_glue_jobs_run_the_repositorys_scripts_with_the_templates_arguments(
    deployed, logical, tmp_path
):
    wanted = deployed.properties(logical)
    job = deployed.client("glue").get_job(JobName=deployed.physical(logical))["Job"]
    same(f"Glue job {logical}", wanted, {key: job.get(key) for key in wanted})
    # What packaging uploaded is what the repository holds: the same bytes run.
    script = s3_object(deployed, job["Command"]["ScriptLocation"])
    assert script == source_file(logical, "Command", "ScriptLocation").read_bytes()
    [library] = job["DefaultArguments"]["--extra-py-files"].split(",")
    assert library.rsplit("/", 1)[1] == job_archive.ARCHIVE
    assert s3_object(deployed, library) == job_archive.build(tmp_path).read_bytes(), library


# --- orchestration -------------------------------------------------------------------------


def test_the_state_machine_runs_the_repositorys_definition_with_its_substitutions(deployed):
    wanted = deployed.properties("PipelineStateMachine")
    text = s3_object(deployed, wanted["DefinitionS3Location"]).decode()
    assert text == source_file("PipelineStateMachine", "DefinitionS3Location").read_text()
    for placeholder, value in wanted["DefinitionSubstitutions"].items():
        text = text.replace("${" + placeholder + "}", str(value))
    found = deployed.client("stepfunctions").describe_state_machine(
        stateMachineArn=deployed.physical("PipelineStateMachine")
    )
    logging = wanted["LoggingConfiguration"]
    same(
        "the state machine",
        {
            "name": wanted["StateMachineName"],
            "roleArn": wanted["RoleArn"],
            "definition": json.loads(text),
            "loggingConfiguration": {
                "level": logging["Level"],
                "includeExecutionData": logging["IncludeExecutionData"],
                "destinations": [
                    {
                        "cloudWatchLogsLogGroup": {
                            "logGroupArn": d["CloudWatchLogsLogGroup"]["LogGroupArn"]
                        }
                    }
                    for d in logging["Destinations"]
                ],
            },
        },
        {
            "name": found["name"],
            "roleArn": found["roleArn"],
            "definition": json.loads(found["definition"]),
            "loggingConfiguration": found["loggingConfiguration"],
        },
    )


@pytest.mark.xfail(
    strict=True,
    reason="LocalStack 4.13.1's AWS::Logs::LogGroup provider ignores RetentionInDays "
    "(services/logs/resource_providers/aws_logs_loggroup.py, create)",
)
def test_the_execution_log_group_keeps_its_days(deployed):
    wanted = deployed.properties("StateMachineLogGroup")
    (group,) = deployed.client("logs").describe_log_groups(
        logGroupNamePrefix=wanted["LogGroupName"]
    )["logGroups"]
    assert group.get("retentionInDays") == wanted["RetentionInDays"]


FUNCTIONS = ["OnObjectCreated", "OnExecutionFailed", "DayIsFree"]
# The functions events invoke (DayIsFree is called by the state machine).
EVENT_HANDLERS = ["OnObjectCreated", "OnExecutionFailed"]


@pytest.mark.parametrize("logical", FUNCTIONS)
def test_functions_run_the_package_with_the_templates_settings(deployed, logical):
    lambda_ = deployed.client("lambda")
    wanted = deployed.properties(logical)
    name = deployed.physical(logical)
    configuration = lambda_.get_function_configuration(FunctionName=name)
    same(
        f"function {logical}",
        {
            "Handler": wanted["Handler"],
            "Runtime": wanted["Runtime"],
            "Timeout": wanted["Timeout"],
            "MemorySize": wanted["MemorySize"],
            "Architectures": wanted["Architectures"],
            "TracingConfig": {"Mode": wanted["Tracing"]},
            "Role": wanted["Role"],
            "Environment": wanted["Environment"],
        },
        {
            key: configuration.get(key)
            for key in (
                "Handler",
                "Runtime",
                "Timeout",
                "MemorySize",
                "Architectures",
                "TracingConfig",
                "Role",
                "Environment",
            )
        },
    )
    # The code is the deployment package chalice made, as uploaded.
    package = s3_object(deployed, wanted["CodeUri"])
    assert (
        configuration["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    )
    tags = lambda_.list_tags(Resource=configuration["FunctionArn"])["Tags"]
    assert wanted["Tags"].items() <= tags.items()


@pytest.mark.parametrize("logical", EVENT_HANDLERS)
def test_function_failures_are_retried_then_kept_in_the_failures_queue(deployed, logical):
    wanted = deployed.properties(logical)["EventInvokeConfig"]
    found = deployed.client("lambda").get_function_event_invoke_config(
        FunctionName=deployed.physical(logical)
    )
    same(
        f"{logical}'s event invoke configuration",
        {
            "MaximumRetryAttempts": wanted["MaximumRetryAttempts"],
            "OnFailure": wanted["DestinationConfig"]["OnFailure"]["Destination"],
        },
        {
            "MaximumRetryAttempts": found["MaximumRetryAttempts"],
            "OnFailure": found["DestinationConfig"]["OnFailure"]["Destination"],
        },
    )
    assert found["DestinationConfig"]["OnFailure"]["Destination"] == deployed.get_att(
        "HandlerFailures", "Arn"
    )


@pytest.mark.parametrize("logical", EVENT_HANDLERS)
def test_rules_send_their_events_to_the_function_and_failures_to_the_queue(deployed, logical):
    events, lambda_ = deployed.client("events"), deployed.client("lambda")
    function_arn = deployed.get_att(logical, "Arn")
    policy = json.loads(lambda_.get_policy(FunctionName=deployed.physical(logical))["Policy"])
    for event, spec in deployed.properties(logical)["Events"].items():
        rule_id = f"{logical}{event}"
        rule = events.describe_rule(Name=deployed.physical(rule_id))
        same(
            f"rule {rule_id}'s pattern",
            spec["Properties"]["Pattern"],
            json.loads(rule["EventPattern"]),
        )
        assert rule["State"] == "ENABLED"
        same(
            f"rule {rule_id}'s targets",
            [
                {
                    "Id": f"{rule_id}LambdaTarget",
                    "Arn": function_arn,
                    "DeadLetterConfig": spec["Properties"]["DeadLetterConfig"],
                }
            ],
            events.list_targets_by_rule(Rule=rule["Name"])["Targets"],
        )
        # ... and the rule may invoke the function (its permission).
        allowed = [
            statement
            for statement in policy["Statement"]
            if statement["Principal"] == {"Service": "events.amazonaws.com"}
            and statement["Action"] == "lambda:InvokeFunction"
            and statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
        ]
        assert len(allowed) == 1, policy


def test_the_rules_are_the_ones_the_dead_letter_queue_accepts(deployed):
    """HandlerFailuresPolicy admits the rules named after the stack, which is how CloudFormation
    names a rule the template leaves unnamed."""
    (statement,) = deployed.properties("HandlerFailuresPolicy")["PolicyDocument"]["Statement"]
    pattern = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    events = deployed.client("events")
    for logical in EVENT_HANDLERS:
        for event in deployed.properties(logical)["Events"]:
            arn = events.describe_rule(Name=deployed.physical(f"{logical}{event}"))["Arn"]
            assert fnmatch.fnmatchcase(arn, pattern), (arn, pattern)


def test_roles_and_their_policies(deployed):
    iam = deployed.client("iam")
    roles = deployed.of_type("AWS::IAM::Role")
    assert len(roles) == 7
    for logical in roles:
        wanted = deployed.properties(logical)
        name = deployed.physical(logical)
        role = iam.get_role(RoleName=name)["Role"]
        same(
            f"{logical}'s trust",
            wanted["AssumeRolePolicyDocument"],
            role["AssumeRolePolicyDocument"],
        )
        inline = {
            policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
        same(
            f"{logical}'s policies",
            {p["PolicyName"]: p["PolicyDocument"] for p in wanted.get("Policies", [])},
            inline,
        )
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        same(
            f"{logical}'s managed policies",
            sorted(wanted.get("ManagedPolicyArns", [])),
            sorted(p["PolicyArn"] for p in attached),
        )
    (managed,) = deployed.of_type("AWS::IAM::ManagedPolicy")
    arn = deployed.physical(managed)
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    same(managed, deployed.properties(managed)["PolicyDocument"], document)


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
def test_the_upload_rule_keeps_the_pipelines_own_writes_from_the_handler(
    deployed, key, starts_work
):
    """The deployed rule's pattern, matched by LocalStack's EventBridge (TestEventPattern)
    against the "Object Created" event S3 sends for the key (Amazon S3 User Guide, "EventBridge
    event message structure")."""
    events = deployed.client("events")
    rule = events.describe_rule(Name=deployed.physical("OnObjectCreatedOnObjectCreatedEvent"))
    bucket = deployed.physical("DataBucket")

    def event(bucket_name: str) -> str:
        return json.dumps(
            {
                "version": "0",
                "id": "17793124-05d4-b198-2fde-7ededc63b103",
                "detail-type": "Object Created",
                "source": "aws.s3",
                "account": deployed.ref("AWS::AccountId"),
                "time": "2021-11-12T00:00:00Z",
                "region": deployed.ref("AWS::Region"),
                "resources": [f"arn:aws:s3:::{bucket_name}"],
                "detail": {"version": "0", "bucket": {"name": bucket_name}, "object": {"key": key}},
            }
        )

    matches = events.test_event_pattern(EventPattern=rule["EventPattern"], Event=event(bucket))
    assert matches["Result"] is starts_work
    elsewhere = events.test_event_pattern(EventPattern=rule["EventPattern"], Event=event("other"))
    assert elsewhere["Result"] is False


# --- last, as it deploys again ------------------------------------------------------------


def test_deploying_again_changes_nothing(stack, deployed):
    """A second ``flightpipe local up`` packages again and deploys through a change set: the
    packaging is reproducible and the stack is left as it was (no resource replaced or
    updated)."""
    cloudformation = stack.client("cloudformation")
    outputs = deploy_local(
        stack.local.session(),
        stack.settings,
        stack.database_url,
        root_certificate=stack.root_certificate,
    )
    after = cloudformation.describe_stack_resources(StackName=NAME)["StackResources"]
    same(
        "the stack's resources after a second deployment",
        {k: (r["PhysicalResourceId"], str(r["Timestamp"])) for k, r in deployed.resources.items()},
        {r["LogicalResourceId"]: (r["PhysicalResourceId"], str(r["Timestamp"])) for r in after},
    )
    assert outputs["StateMachineArn"] == stack.pipeline.state_machine_arn
    assert cloudformation.describe_stacks(StackName=NAME)["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
