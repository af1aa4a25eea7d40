"""``make package``'s artifact: infra/pipeline.yaml merged into Chalice's template, and what a
first deployment needs from it.

The template is linted as source and as packaged. Each defect a review of the deployed template
found has a test here that fails if it comes back; where AWS's behaviour cannot run here (IAM
evaluation, VPC endpoints, CloudTrail), the template is checked for it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from flightpipe.paths import REPO
from tests.support.chalice import chalice_package

BIN = Path(sys.executable).parent
SOURCE = REPO / "infra" / "pipeline.yaml"
ROLES = (
    "ObjectCreatedHandlerRole",
    "ExecutionFailedHandlerRole",
    "CrawlerRole",
    "DelayedFlightsJobRole",
    "LoadAirportsJobRole",
    "StateMachineRole",
)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict[str, Any]:
    """``chalice package --merge-template`` into a directory beside infra/, as make package."""
    path = chalice_package(tmp_path_factory.mktemp("dist"))
    return {"path": path, "template": cfn_yaml.load(str(path))}


@pytest.fixture(scope="module")
def resources(packaged) -> dict[str, Any]:
    return dict(packaged["template"]["Resources"])


def lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cfn-lint"), *args], capture_output=True, text=True, timeout=300
    )


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    given = statement["Action"]
    return [given] if isinstance(given, str) else list(given)


def test_the_source_template_passes_cfn_lint():
    """E3001 (no Type) and W8001 (the Condition on them unseen) only: OnObjectCreated,
    OnExecutionFailed and DayIsFree add to Chalice's functions. The packaged template is linted
    in full."""
    result = lint("--ignore-checks", "E3001", "W8001", "--", str(SOURCE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_packaged_template_passes_cfn_lint(packaged):
    result = lint(str(packaged["path"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (packaged["path"].parent / "deployment.zip").stat().st_size > 0


def test_every_placeholder_of_the_definition_is_substituted(resources):
    machine = resources["PipelineStateMachine"]["Properties"]
    definition = (REPO / "infra" / machine["DefinitionS3Location"]).read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{(\w+)\}", definition)) == set(machine["DefinitionSubstitutions"])


def test_files_are_packaged_by_path_so_scripts_and_template_change_together(resources):
    """`aws cloudformation package` uploads them under content-addressed keys (make deploy)."""
    machine = resources["PipelineStateMachine"]["Properties"]
    assert (REPO / "infra" / machine["DefinitionS3Location"]).is_file()
    for job in ("DelayedFlightsJob", "LoadAirportsJob"):
        properties = resources[job]["Properties"]
        assert (REPO / "infra" / properties["Command"]["ScriptLocation"]).is_file()
        libraries = properties["DefaultArguments"]["--extra-py-files"]["Fn::Sub"]
        assert libraries.startswith("${GlueLibraryPrefix}")


def test_deploy_uploads_the_template_and_versions_the_libraries():
    """The template is over CloudFormation's 51,200-byte inline limit: deploy sends it via S3."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    deploy = makefile[makefile.index("\ndeploy:") :]
    assert (
        "cloudformation deploy" in deploy
        and "--s3-bucket" in deploy.split("cloudformation deploy")[1]
    )
    assert "GlueLibraryPrefix=" in deploy and "sha256sum" in deploy


def test_the_upload_rule_matches_only_this_bucket_and_the_keys_that_mean_work(resources):
    pattern = resources["OnObjectCreated"]["Properties"]["Events"]["OnObjectCreatedEvent"][
        "Properties"
    ]["Pattern"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "daily_flights/"}, "dim/airports.csv"]


def test_names_are_qualified_by_the_stage(resources):
    named = {
        "GlueDatabase": resources["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"],
        "WarehouseConnection": resources["WarehouseConnection"]["Properties"]["ConnectionInput"][
            "Name"
        ],
        "Crawler": resources["Crawler"]["Properties"]["Name"],
        "DelayedFlightsJob": resources["DelayedFlightsJob"]["Properties"]["Name"],
        "LoadAirportsJob": resources["LoadAirportsJob"]["Properties"]["Name"],
        "AlertsTopic": resources["AlertsTopic"]["Properties"]["TopicName"],
        "HandlerFailures": resources["HandlerFailures"]["Properties"]["QueueName"],
        "PipelineStateMachine": resources["PipelineStateMachine"]["Properties"]["StateMachineName"],
    }
    unqualified = {k: v for k, v in named.items() if "${Stage}" not in json.dumps(v)}
    assert not unqualified


def test_a_failed_event_is_kept_and_alarmed(resources):
    """EventBridge invokes the handlers asynchronously: after Lambda's retries the event goes to
    the failures queue (on-failure destination), and so does one Lambda could not take at all
    (the rule's dead-letter queue); an alarm on that queue reaches the alerts topic."""
    failures = {"Fn::GetAtt": ["HandlerFailures", "Arn"]}
    for function, event in (
        ("OnObjectCreated", "OnObjectCreatedEvent"),
        ("OnExecutionFailed", "OnExecutionFailedEvent"),
    ):
        properties = resources[function]["Properties"]
        on_failure = properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert on_failure == {"Type": "SQS", "Destination": failures}
        assert properties["Events"][event]["Properties"]["DeadLetterConfig"] == {"Arn": failures}
    alarm = resources["HandlerFailuresAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["HandlerFailures", "QueueName"]}}
    ]


def test_credentials_are_escaped_json_or_an_existing_secret_and_ssl_is_enforced(
    packaged, resources
):
    template = packaged["template"]
    assert template["Parameters"]["WarehousePassword"]["NoEcho"] is True
    assert "AWS::LanguageExtensions" in template["Transform"]
    secret = resources["WarehouseSecret"]
    assert secret["Condition"] == "CreateSecret"
    assert set(secret["Properties"]["SecretString"]["Fn::ToJsonString"]) == {"username", "password"}
    properties = resources["WarehouseConnection"]["Properties"]["ConnectionInput"][
        "ConnectionProperties"
    ]
    assert properties["SECRET_ID"] == {
        "Fn::If": ["CreateSecret", {"Ref": "WarehouseSecret"}, {"Ref": "WarehouseSecretArn"}]
    }
    assert properties["JDBC_ENFORCE_SSL"] == "true"
    assert "PASSWORD" not in properties and "USERNAME" not in properties


def test_buckets_are_kept_tls_only_and_expire_what_grows(resources):
    for bucket, policy in (
        ("DataBucket", "DataBucketPolicy"),
        ("TrailBucket", "TrailBucketPolicy"),
    ):
        assert resources[bucket]["DeletionPolicy"] == "Retain"
        assert resources[bucket]["UpdateReplacePolicy"] == "Retain"
        deny = [
            s
            for s in resources[policy]["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny"
        ]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = resources["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)
    # Staged rows leave no old versions or delete markers behind for long (the bucket is
    # versioned: an expired current version becomes a noncurrent one behind a delete marker).
    temp = [r for r in rules if r.get("Prefix") == "glue-temp/"]
    current = [r["ExpirationInDays"] for r in temp if "ExpirationInDays" in r]
    noncurrent = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in temp
        if "NoncurrentVersionExpiration" in r
    ]
    assert current and noncurrent and max(current + noncurrent) <= 7
    assert any(r.get("ExpiredObjectDeleteMarker") is True for r in temp)


def test_each_actor_has_its_own_role(resources):
    assert "DefaultRole" not in resources
    for function, role in (
        ("OnObjectCreated", "ObjectCreatedHandlerRole"),
        ("OnExecutionFailed", "ExecutionFailedHandlerRole"),
        ("DayIsFree", "DayIsFreeRole"),
    ):
        assert resources[function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert (
        resources["DelayedFlightsJob"]["Properties"]["Role"]
        != resources["LoadAirportsJob"]["Properties"]["Role"]
    )


# The one deletion allowed: Spark's file output committer renames the day job's quarantine task
# files into place (copy, then delete) under quarantine/. No role may delete an input or a report.
# Where Spark's committers delete (quarantine/, and glue-temp/ under the Redshift writer).
TEMP_DIR_DELETES = ["${DataBucket.Arn}/glue-temp/*"]
COMMITTER_DELETES = {
    "DelayedFlightsJobRole": ["${DataBucket.Arn}/quarantine/*", *TEMP_DIR_DELETES],
    "LoadAirportsJobRole": TEMP_DIR_DELETES,
}


def test_no_role_may_delete_objects_or_list_the_whole_bucket(resources):
    for name in ROLES:
        deletes = []
        for statement in statements(resources[name]):
            if "s3:DeleteObject" in actions(statement):
                resource = statement["Resource"]
                given = resource if isinstance(resource, list) else [resource]
                deletes += [r["Fn::Sub"] for r in given]
            if "s3:ListBucket" in actions(statement):
                assert statement["Condition"]["StringLike"]["s3:prefix"], name
        assert sorted(deletes) == sorted(COMMITTER_DELETES.get(name, [])), name


def test_glue_may_only_touch_interfaces_of_its_subnet(resources):
    network = resources["GlueJobNetworkPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in network}
    assert "*" not in json.dumps(by_sid["CreateInterfaces"]["Resource"]).replace(
        "network-interface/*", ""
    )
    assert "ec2:Subnet" in by_sid["DeleteInterfaces"]["Condition"]["ArnEquals"]
    assert by_sid["TagGlueInterfaces"]["Condition"]["ForAllValues:StringEquals"] == {
        "aws:TagKeys": ["aws-glue-service-resource"]
    }
    assert {"ec2:DescribeVpcAttribute"} <= set(actions(by_sid["Describe"]))
    for job_role in ("DelayedFlightsJobRole", "LoadAirportsJobRole"):
        granted = {a for s in statements(resources[job_role]) for a in actions(s)}
        assert "s3:GetBucketLocation" in granted


def test_the_jobs_can_reach_what_they_call_from_the_private_subnet(packaged, resources):
    """Glue jobs in the warehouse's subnet call S3, Glue, Secrets Manager, CloudWatch Logs and
    STS: the template can create an endpoint for each, each behind a switch of its own and none
    by default (a VPC holds one private-DNS endpoint per service, shared by every workload in
    it, so a second stage in the VPC must not create them again), and Glue's
    self-referencing security-group rule."""
    parameters = packaged["template"]["Parameters"]
    conditions = packaged["template"]["Conditions"]
    endpoints = {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]: r
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    }
    assert set(endpoints) == {"s3", "glue", "secretsmanager", "logs", "sts"}
    assert endpoints["s3"]["Properties"]["VpcEndpointType"] == "Gateway"
    switches = set()
    for service, endpoint in endpoints.items():
        if service != "s3":
            assert endpoint["Properties"]["PrivateDnsEnabled"] is True
        condition = conditions[endpoint["Condition"]]["Fn::And"]
        assert condition[0] == {"Condition": "IsDeployed"}
        switch = condition[1]["Fn::Equals"][0]["Ref"]
        assert parameters[switch]["Default"] == "false", switch
        switches.add(switch)
    assert len(switches) == len(endpoints)
    rule = resources["GlueSecurityGroupSelfRule"]["Properties"]
    assert rule["SourceSecurityGroupId"] == rule["GroupId"] == {"Ref": "GlueSecurityGroupId"}
    assert (rule["FromPort"], rule["ToPort"]) == (0, 65535)


def rules_hold(template: dict[str, Any], **given: str) -> dict[str, bool]:
    """Each of the template's Rules evaluated with parameters ``given`` (others at their
    defaults), by the rule functions of AWS CloudFormation's User Guide ("Rule functions":
    Fn::And, Fn::Contains, Fn::Equals, Fn::Not, Fn::Or, Ref; a CommaDelimitedList's Ref is its
    list of strings): True where the rule does not apply or its assertions hold."""
    parameters = template["Parameters"]

    def value(name: str) -> Any:
        raw = given.get(name, parameters[name].get("Default", ""))
        return raw.split(",") if parameters[name]["Type"] == "CommaDelimitedList" else raw

    def evaluate(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        ((function, argument),) = node.items()
        if function == "Ref":
            return value(argument)
        values = [evaluate(a) for a in argument]
        return {
            "Fn::Equals": lambda: values[0] == values[1],
            "Fn::Not": lambda: not values[0],
            "Fn::And": lambda: all(values),
            "Fn::Or": lambda: any(values),
            "Fn::Contains": lambda: values[1] in values[0],
        }[function]()

    return {
        name: not evaluate(rule.get("RuleCondition", True))
        or all(evaluate(a["Assert"]) for a in rule["Assertions"])
        for name, rule in template.get("Rules", {}).items()
    }


def test_a_gateway_endpoint_without_route_tables_is_refused_before_anything_is_created(
    packaged,
):
    """Without route tables the gateway endpoint's RouteTableIds would be [""] and the stack
    would roll back mid-create; the rule refuses the parameters first, naming them."""
    template, name = packaged["template"], "GatewayEndpointNeedsRouteTables"
    assertion = template["Rules"][name]["Assertions"][0]
    assert "PrivateRouteTableIds" in assertion["AssertDescription"]
    assert all(rules_hold(template).values())
    gateway = {"CreateS3GatewayEndpoint": "true"}
    assert not rules_hold(template, **gateway)[name]
    assert not rules_hold(template, **gateway, PrivateRouteTableIds="rtb-1,")[name]
    assert rules_hold(template, **gateway, PrivateRouteTableIds="rtb-1,rtb-2")[name]


def test_the_state_machine_logs_and_times_out(resources):
    machine = resources["PipelineStateMachine"]["Properties"]
    destination = machine["LoggingConfiguration"]["Destinations"][0]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }
    definition = json.loads(
        (REPO / "infra" / machine["DefinitionS3Location"]).read_text(encoding="utf-8")
    )
    assert 0 < definition["TimeoutSeconds"] <= 4 * 3600


def test_the_trail_records_only_the_data_prefixes_for_this_trail(resources):
    trail = resources["DataEventsTrail"]["Properties"]
    values = trail["EventSelectors"][0]["DataResources"][0]["Values"]
    assert [v["Fn::Sub"] for v in values] == [
        "${DataBucket.Arn}/daily_flights/",
        "${DataBucket.Arn}/dim/",
    ]
    allows = [
        s
        for s in resources["TrailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    assert allows and all("aws:SourceArn" in s["Condition"]["StringEquals"] for s in allows)


def test_aws_cloudformation_package_uploads_every_file_the_template_names(packaged, tmp_path):
    """The paths are relative to the merged template in dist/ (make package), as make deploy
    hands it to `aws cloudformation package`; S3 is moto's server."""
    import boto3
    from moto.server import ThreadedMotoServer

    from flightpipe.devenv.postgres import free_port

    dist = REPO / "dist-test-package"
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        shutil.rmtree(dist, ignore_errors=True)
        shutil.copytree(packaged["path"].parent, dist)
        endpoint = f"http://127.0.0.1:{port}"
        credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket="artifacts")
        env = {**os.environ, **credentials, "AWS_ENDPOINT_URL": endpoint}
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        output = tmp_path / "packaged.yaml"
        result = subprocess.run(
            [
                str(BIN / "aws"),
                "cloudformation",
                "package",
                "--template-file",
                str(dist / "sam.yaml"),
                "--s3-bucket",
                "artifacts",
                "--s3-prefix",
                "flightpipe-dev",
                "--output-template-file",
                str(output),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.stop()
        shutil.rmtree(dist, ignore_errors=True)
    assert result.returncode == 0, result.stdout + result.stderr
    resources = cfn_yaml.load(str(output))["Resources"]
    for job in ("DelayedFlightsJob", "LoadAirportsJob"):
        location = resources[job]["Properties"]["Command"]["ScriptLocation"]
        assert location.startswith("s3://artifacts/flightpipe-dev/")
    assert resources["PipelineStateMachine"]["Properties"]["DefinitionS3Location"][
        "Key"
    ].startswith("flightpipe-dev/")
    assert resources["OnObjectCreated"]["Properties"]["CodeUri"].startswith("s3://artifacts/")


def test_every_log_group_the_stage_writes_expires(resources):
    """Lambda creates /aws/lambda/<function> without retention unless the function logs to a
    group of the template's (LoggingConfig); the jobs' continuous logs go to a group of the
    template's (--continuous-log-logGroup); each of those groups has a retention."""
    groups = {n for n, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    for name in groups:
        assert 0 < resources[name]["Properties"]["RetentionInDays"] <= 400, name
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups
    for job in ("DelayedFlightsJob", "LoadAirportsJob"):
        arguments = resources[job]["Properties"]["DefaultArguments"]
        assert arguments["--enable-continuous-cloudwatch-log"] == "true"
        assert arguments["--continuous-log-logGroup"]["Ref"] in groups
        assert arguments["--enable-metrics"] == "true"


def test_the_handlers_are_named_as_chalice_deploy_names_them_and_left_to_it_on_request(
    resources,
):
    """``chalice deploy`` names a function ``<app_name>-<stage>-<handler>`` (chalice's
    deploy/appgraph.py): the stack's functions carry the same names, so either way of deploying
    them gives one function, logging to the stack's group; with HandlersDeployedBy=chalice the
    stack leaves them, and the rules SAM makes of their events, out."""
    app_name = json.loads((REPO / "chalice_app" / ".chalice" / "config.json").read_text())[
        "app_name"
    ]
    groups = {
        "OnObjectCreated": "OnObjectCreatedLogGroup",
        "OnExecutionFailed": "OnExecutionFailedLogGroup",
        "DayIsFree": "DayIsFreeLogGroup",
    }
    for handler, logical in (
        ("on_object_created", "OnObjectCreated"),
        ("on_execution_failed", "OnExecutionFailed"),
        ("day_is_free", "DayIsFree"),
    ):
        function = resources[logical]
        assert function["Condition"] == "HandlersByStack"
        expected = f"{app_name}-${{Stage}}-{handler}"
        assert function["Properties"]["FunctionName"] == {"Fn::Sub": expected}
        group = resources[groups[logical]]["Properties"]["LogGroupName"]
        assert group == {"Fn::Sub": f"/aws/lambda/{expected}"}
