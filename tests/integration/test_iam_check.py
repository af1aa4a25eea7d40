"""The local stack's IAM check (localstack/flightpipe_localstack/iam_check.py): a call made with
a role's session is refused when the role's deployed policies would not allow it on AWS, and
``make local-e2e`` fails naming principal, action and resource.

The evaluator is ``@cloud-copilot/iam-simulate`` (tools/iam); the denial messages follow AWS's
("User: <principal> is not authorized to perform: <action> on resource: <arn> because no
identity-based policy allows the <action> action")."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from flightpipe import e2e
from flightpipe.stack.deploy import TEMPLATE
from flightpipe.stack.local import iam_denials_file
from flightpipe.stage import local_values
from tests.conftest import Server
from tests.integration.conftest import Stack, started_stack

pytestmark = pytest.mark.integration

# The handler's one permission to start executions (infra/pipeline.yaml, ObjectCreatedHandlerRole).
START_RUNS = """              - Sid: StartRuns
                Effect: Allow
                Action: states:StartExecution
                Resource: !Ref PipelineStateMachine
"""


def outputs(stack: Stack) -> dict[str, str]:
    described = stack.client("cloudformation").describe_stacks(StackName="flightpipe-local")
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}


def as_role(stack: Stack, role_arn: str) -> boto3.session.Session:
    """A session of ``role_arn``, as LocalStack's Lambda gives a function its role's."""
    credentials = stack.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="test")[
        "Credentials"
    ]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=stack.settings.region,
    )


def test_a_role_may_make_the_calls_its_policy_allows_and_no_other(stack):
    found = outputs(stack)
    handler = as_role(stack, found["ObjectCreatedHandlerRoleArn"])
    endpoint = stack.settings.endpoint_url
    s3 = handler.client("s3", endpoint_url=endpoint)
    bucket = found["DataBucket"]
    stack.client("s3").put_object(
        Bucket=bucket, Key="daily_flights/date=2014-01-01/x.csv", Body=b""
    )
    stack.client("s3").put_object(Bucket=bucket, Key="run-reports/x.json", Body=b"{}")

    s3.head_object(Bucket=bucket, Key="daily_flights/date=2014-01-01/x.csv")  # FindTheObject
    with pytest.raises(s3.exceptions.ClientError) as refused:
        s3.head_object(Bucket=bucket, Key="run-reports/x.json")
    assert refused.value.response["Error"]["Code"] == "403"

    sns = handler.client("sns", endpoint_url=endpoint)
    with pytest.raises(sns.exceptions.AuthorizationErrorException) as denied:
        sns.publish(TopicArn=found["AlertsTopicArn"], Message="not this role's")
    role = found["ObjectCreatedHandlerRoleArn"].rsplit("/", 1)[-1]
    assert str(denied.value).endswith(
        f"User: arn:aws:sts::000000000000:assumed-role/{role}/test is not authorized to perform: "
        f"sns:Publish on resource: {found['AlertsTopicArn']} because no identity-based policy "
        "allows the sns:Publish action"
    )
    written = [
        json.loads(line) for line in iam_denials_file(stack.settings).read_text().splitlines()
    ]
    assert {
        "principal": f"arn:aws:sts::000000000000:assumed-role/{role}/test",
        "action": "sns:Publish",
        "resource": found["AlertsTopicArn"],
        "why": "",
    } in written


# The crawler's permission to create the table its first crawl finds (CrawlerRole, Catalog).
CREATE_TABLE = "                  - glue:CreateTable\n"


def stack_without(server: Server, folder: Path, permission: str):
    """A stack deployed from a copy of the template without ``permission`` (its text)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(permission) == 1
    copy = folder / "pipeline.yaml"
    copy.write_text(text.replace(permission, ""), encoding="utf-8")
    return started_stack(server, template=copy)


@pytest.fixture(scope="module")
def stack_without_start_runs(server: Server, tmp_path_factory) -> Iterator[Stack]:
    """The upload handler may not start executions."""
    with stack_without(server, tmp_path_factory.mktemp("template"), START_RUNS) as started:
        yield started


@pytest.fixture(scope="module")
def stack_without_create_table(server: Server, tmp_path_factory) -> Iterator[Stack]:
    """The crawler may not create the table of the days."""
    with stack_without(server, tmp_path_factory.mktemp("template"), CREATE_TABLE) as started:
        yield started


def e2e_report(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """``make local-e2e``'s check against ``stack``, which must fail; what it printed."""
    monkeypatch.setenv("FLIGHTPIPE_STATE_DIR", str(stack.settings.state_dir))
    out = io.StringIO()
    assert e2e.check(stack.settings, local_values(stack.settings), out) == 1
    return out.getvalue()


def role_name(stack: Stack, logical: str) -> str:
    resource = stack.client("cloudformation").describe_stack_resource(
        StackName="flightpipe-local", LogicalResourceId=logical
    )
    return str(resource["StackResourceDetail"]["PhysicalResourceId"])


def test_make_local_e2e_fails_naming_the_call_the_deployed_policy_would_deny(
    stack_without_start_runs, monkeypatch
):
    stack = stack_without_start_runs
    report = e2e_report(stack, monkeypatch)
    role = outputs(stack)["ObjectCreatedHandlerRoleArn"].rsplit("/", 1)[-1]
    assert "IAM: the deployed policies would deny these calls:" in report
    assert (
        f"  arn:aws:sts::000000000000:assumed-role/{role}/flightpipe-local-on_object_created "
        f"may not states:StartExecution on {stack.pipeline.state_machine_arn}"
    ) in report.splitlines()


def test_the_crawler_runs_with_its_roles_session_and_is_held_to_its_policy(
    stack_without_create_table, monkeypatch
):
    """The Glue service runs a crawl with a session of the crawler's role, as AWS's Glue does:
    without glue:CreateTable the first crawl fails, and the e2e names the call."""
    stack = stack_without_create_table
    report = e2e_report(stack, monkeypatch)
    role = role_name(stack, "CrawlerRole")
    glue = "arn:aws:glue:us-east-1:000000000000"
    # CreateTable needs the catalog, the database and the table; the first refused is named.
    named = {
        f"  arn:aws:sts::000000000000:assumed-role/{role}/AWS-Crawler may not glue:CreateTable "
        f"on {resource}"
        for resource in (
            f"{glue}:catalog",
            f"{glue}:database/flightpipe_local",
            f"{glue}:table/flightpipe_local/daily_flights",
        )
    }
    assert named & set(report.splitlines()), report
