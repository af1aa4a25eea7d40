"""infra/pipeline.yaml as the local stack deploys it: stage "local", local values, local names.

``make package`` merges the template into the Chalice app's own (``chalice package
--merge-template``); ``local_stack`` builds the same merge in-process, from the app's functions
and with Chalice's own merger, and renders it (``flightpipe.infra``) with the parameter values
that mean the local stack: the stage ``local``, the local PostgreSQL as the warehouse, no VPC.
Provisioning (``provision``), the stack process (the handlers' environment and failure
handling) and ``flightpipe.config.Names`` all read it, so the local names are the template's
names for the stage ``local``: ``flightpipe-local-daily-flights``, ``flightpipe_local``, ...

Where the template leaves a name to CloudFormation, the local stack chooses it:

* the data bucket is ``flightpipe-data`` (CloudFormation would generate
  ``flightpipe-<stage>-databucket-<random>``);
* the two functions keep the names ``chalice deploy`` gives them,
  ``flightpipe-local-on_object_created`` and ``flightpipe-local-on_execution_failed``, which is
  how the stack registers every Chalice app's handlers (CloudFormation would generate
  ``flightpipe-<stage>-OnObjectCreated-<random>``);
* every other unnamed resource, the rules SAM makes of the functions' events included, gets
  CloudFormation's name without its random suffix: ``flightpipe-local-<logical id>``, which
  keeps the rules inside the dead-letter queue policy's ``rule/${AWS::StackName}-*``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flightpipe.config import REPO
from flightpipe.infra import TEMPLATE, Stack, TemplateError, load
from flightpipe.postgres import DATABASE as LOCAL_DATABASE
from flightpipe.stack.events import MAX_RETRY_ATTEMPTS
from flightpipe.stack.lambdas import ChaliceFunction, chalice_functions

LOCAL_STAGE = "local"
STACK_NAME = f"flightpipe-{LOCAL_STAGE}"  # make deploy's --stack-name flightpipe-$(STAGE)
ACCOUNT_ID = "123456789012"  # moto's default account
APP_DIR = REPO / "chalice_app"  # the app make package merges infra/pipeline.yaml into
DATA_BUCKET = "flightpipe-data"
# Where provisioning uploads glue_job/: the jobs' scripts and, as GlueLibraryPrefix, their
# library modules (make deploy uploads those under a content-addressed prefix instead).
GLUE_SCRIPTS = f"s3://{DATA_BUCKET}/glue-scripts/"
ALERTS_INBOX_SUFFIX = "-inbox"  # the local-only SQS queue subscribed to the alerts topic

# Parameter values the template's constraints refuse, on purpose.
UNCHECKED = {
    "Stage": "the local stack is not a deployable stage",
    "WarehouseJdbcUrl": "the local warehouse is PostgreSQL, not Redshift",
}
# Resource types with no local meaning: never provisioned, whatever the template says.
SKIPPED = {
    "AWS::IAM::Role": "moto does not enforce IAM; the stack runs everything as one principal",
    "AWS::IAM::ManagedPolicy": "moto does not enforce IAM",
    "AWS::S3::BucketPolicy": "moto does not enforce it, and the local endpoint is plain HTTP",
    "AWS::SQS::QueuePolicy": "moto does not enforce it",
    "AWS::CloudTrail::Trail": "an audit trail of uploads; nothing reads it locally",
    "AWS::CloudWatch::Alarm": "no metrics locally; read the handler-failures queue instead",
    "AWS::Logs::LogGroup": "the stack logs to .local/logs/",
    "AWS::SNS::Subscription": "email to a person; the alerts inbox queue stands in",
    "AWS::EC2::VPCEndpoint": "no VPC locally",
    "AWS::EC2::SecurityGroupIngress": "no VPC locally",
}


def parameters(region: str, database_url: str | None = None) -> dict[str, str]:
    """The template's parameters for the local stack; the warehouse's only with a URL."""
    values = {
        "Stage": LOCAL_STAGE,
        "GlueLibraryPrefix": GLUE_SCRIPTS,
        "CreateVpcEndpoints": "false",
        "CreateSecurityGroupSelfRule": "false",
        # No VPC locally: ids that name nothing, kept on the Glue connection as on AWS.
        "VpcId": "vpc-local",
        "GlueSubnetId": "subnet-local",
        "GlueSecurityGroupId": "sg-local",
        "GlueAvailabilityZone": f"{region}a",
    }
    if database_url:
        parts = urlsplit(database_url)
        database = parts.path.lstrip("/")
        if not database:
            raise ValueError(f"the warehouse URL names no database: {database_url}")
        values.update(
            WarehouseJdbcUrl=f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}/{database}",
            WarehouseDatabase=database,
            WarehouseUser=unquote(parts.username or ""),
            WarehousePassword=unquote(parts.password or ""),
        )
    return values


def local_stack(
    database_url: str | None = None,
    *,
    region: str = "us-east-1",
    functions: Sequence[ChaliceFunction] = (),
    secrets: Mapping[str, str] | None = None,
) -> Stack:
    """infra/pipeline.yaml merged with ``functions`` as ``chalice package`` merges it, rendered
    for the local stack. ``secrets``: the ARNs of secrets already created (their random suffix).
    """
    return render(
        merge_chalice(_template(), functions),
        database_url,
        region=region,
        function_names={f.logical_id: f.name for f in functions},
        secrets=secrets,
    )


def render(
    template: Mapping[str, Any],
    database_url: str | None = None,
    *,
    region: str = "us-east-1",
    function_names: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Stack:
    """A template (infra/pipeline.yaml, or ``make package``'s merge of it) rendered with the
    local stack's parameter values and names."""
    return Stack(
        template,
        parameters(region, database_url),
        stack_name=STACK_NAME,
        region=region,
        account_id=ACCOUNT_ID,
        names={"DataBucket": DATA_BUCKET, **(function_names or {})},
        physical=dict(secrets or {}),
        unchecked=UNCHECKED,
    )


@cache
def _template() -> dict[str, Any]:
    return load(TEMPLATE)  # read-only: merge_chalice copies it


def merge_chalice(
    template: Mapping[str, Any], functions: Iterable[ChaliceFunction]
) -> dict[str, Any]:
    """``template`` merged into what ``chalice package`` generates for ``functions`` (the
    properties the local stack uses), by Chalice's own merger."""
    from chalice.package import TemplateDeepMerger

    resources: dict[str, Any] = {}
    for function in functions:
        properties: dict[str, Any] = {"Handler": function.handler_string}
        if function.environment:
            properties["Environment"] = {"Variables": dict(function.environment)}
        if function.event_patterns:
            properties["Events"] = {
                event: {"Type": "CloudWatchEvent", "Properties": {"Pattern": pattern}}
                for event, pattern in function.event_patterns.items()
            }
        resources[function.logical_id] = {
            "Type": "AWS::Serverless::Function",
            "Properties": properties,
        }
    merged: dict[str, Any] = TemplateDeepMerger().merge(
        json.loads(json.dumps(template)), {"Resources": resources}
    )
    return merged


# --- what SAM makes of a function --------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """The EventBridge rule SAM generates for a function's CloudWatchEvent."""

    logical_id: str
    name: str
    pattern: dict[str, Any]
    target: dict[str, Any]


def rule_name(function: str, event: str) -> str:
    """SAM names the rule ``<function><event>``; CloudFormation names it after the stack."""
    name = f"{STACK_NAME}-{function}{event}"
    if len(name) > 64:
        raise TemplateError(f"rule name {name!r} is longer than EventBridge's 64 characters")
    return name


def function_rules(stack: Stack, function: str) -> list[Rule]:
    """The rules of a function's events (SAM's ``CloudWatchEvent``: the pattern, a Lambda target
    ``<rule>LambdaTarget`` with the event's DeadLetterConfig and RetryPolicy)."""
    rules = []
    for event, spec in (stack.property(function, "Events") or {}).items():
        where = f"{function}.Events.{event}"
        if spec.get("Type") not in ("CloudWatchEvent", "EventBridgeRule"):
            raise TemplateError(f"{where}: event type {spec.get('Type')!r} is not known here")
        properties = dict(spec.get("Properties", {}))
        unknown = set(properties) - {"Pattern", "DeadLetterConfig", "RetryPolicy"}
        if unknown:
            raise TemplateError(f"{where}: the local stack does not apply {sorted(unknown)}")
        target: dict[str, Any] = {
            "Id": f"{function}{event}LambdaTarget",
            "Arn": stack.get_att(function, "Arn"),
        }
        if "DeadLetterConfig" in properties:
            if set(properties["DeadLetterConfig"]) != {"Arn"}:
                raise TemplateError(f"{where}: only DeadLetterConfig.Arn is known here")
            target["DeadLetterConfig"] = {"Arn": properties["DeadLetterConfig"]["Arn"]}
        if "RetryPolicy" in properties:
            target["RetryPolicy"] = properties["RetryPolicy"]
        rules.append(
            Rule(f"{function}{event}", rule_name(function, event), properties["Pattern"], target)
        )
    return rules


@dataclass(frozen=True)
class FunctionSettings:
    """How Lambda runs a function: its environment and asynchronous invocation config."""

    environment: dict[str, str]
    max_retries: int = MAX_RETRY_ATTEMPTS  # Lambda's default
    on_failure: str | None = None


def function_settings(stack: Stack, function: str) -> FunctionSettings:
    """The function's ``Environment.Variables`` and ``EventInvokeConfig``, rendered."""
    environment = stack.property(function, "Environment", "Variables") or {}
    invoke = stack.property(function, "EventInvokeConfig") or {}
    unknown = set(invoke) - {"MaximumRetryAttempts", "DestinationConfig"}
    destinations = invoke.get("DestinationConfig", {})
    unknown |= {f"DestinationConfig.{k}" for k in set(destinations) - {"OnFailure"}}
    if unknown:
        raise TemplateError(f"{function}.EventInvokeConfig: not applied locally: {unknown}")
    on_failure = destinations.get("OnFailure", {}).get("Destination")
    return FunctionSettings(
        {str(k): str(v) for k, v in environment.items()},
        int(invoke.get("MaximumRetryAttempts", MAX_RETRY_ATTEMPTS)),
        str(on_failure) if on_failure else None,
    )


def local_functions(
    app_dir: Path, stage: str, region: str
) -> list[tuple[ChaliceFunction, FunctionSettings]]:
    """The functions of a Chalice app with their settings: for the pipeline's app, the merged
    template's; for any other app (test fixtures), its config.json's environment."""
    functions = chalice_functions(app_dir, stage)
    if app_dir.resolve() != APP_DIR.resolve():
        return [(f, FunctionSettings(dict(f.environment))) for f in functions]
    stack = local_stack(region=region, functions=functions)
    return [(f, function_settings(stack, f.logical_id)) for f in functions]


# --- names -------------------------------------------------------------------------------


def local_names() -> dict[str, str]:
    """The resource names of the local stack, for ``flightpipe.config.Names``."""
    stack = local_stack()
    topic = stack.name("AlertsTopic")

    def day_job(argument: str) -> str:
        return str(stack.property("DelayedFlightsJob", "DefaultArguments", argument))

    return {
        "data_bucket": stack.ref("DataBucket"),
        "alerts_topic": topic,
        "alerts_queue": topic + ALERTS_INBOX_SUFFIX,
        "glue_database": stack.ref("GlueDatabase"),
        "flights_table": day_job("--flights_table"),
        "accepted_airports_key": day_job("--accepted_airports_key"),
        "crawler": stack.ref("Crawler"),
        "job": stack.ref("DelayedFlightsJob"),
        "airports_job": stack.ref("LoadAirportsJob"),
        "glue_connection": stack.ref("WarehouseConnection"),
        "warehouse_database": LOCAL_DATABASE,  # WarehouseDatabase, on the local PostgreSQL
        "state_machine": stack.name("PipelineStateMachine"),
        "object_created_rule": rule_name("OnObjectCreated", _only_event(stack, "OnObjectCreated")),
        "execution_status_rule": rule_name(
            "OnExecutionFailed", _only_event(stack, "OnExecutionFailed")
        ),
    }


def _only_event(stack: Stack, function: str) -> str:
    events = list(stack.template["Resources"][function]["Properties"].get("Events", {}))
    if len(events) != 1:
        raise TemplateError(f"{function}: expected one event, found {events}")
    return events[0]
