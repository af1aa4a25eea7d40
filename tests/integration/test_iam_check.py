"""The local stack's IAM check (localstack/flightpipe_localstack/iam_check.py): a call made with
a role's session is refused when the role's deployed policies would not allow it on AWS, and
``make local-e2e`` fails naming principal, action and resource.

The evaluator is ``@cloud-copilot/iam-simulate`` (tools/iam); the denial messages follow AWS's
("User: <principal> is not authorized to perform: <action> on resource: <arn> because no
identity-based policy allows the <action> action")."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from flightpipe.commands import e2e
from flightpipe.infra.stages import local_values
from flightpipe.stack.deploy import TEMPLATE
from flightpipe.stack.local import iam_denials_file
from tests.support.postgres import Server
from tests.support.stack import Stack, started_stack

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


# The day job's read of the day's files, which Spark makes (DelayedFlightsJobRole, ReadInputs);
# the handler's and the crawler's roles name the same resource too.
READ_THE_DAYS = """                    - !Ref AWS::NoValue
                  - !Sub ${DataBucket.Arn}/daily_flights/*
                  - !Sub ${DataBucket.Arn}/accepted/airports.csv
"""


def stack_without(server: Server, folder: Path, permission: str, kept: str = ""):
    """A stack deployed from a copy of the template without ``permission`` (its text, which
    ``kept`` replaces)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(permission) == 1
    copy = folder / "pipeline.yaml"
    copy.write_text(text.replace(permission, kept), encoding="utf-8")
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


@pytest.fixture(scope="module")
def stack_without_reading_the_days(server: Server, tmp_path_factory) -> Iterator[Stack]:
    """The day job may not read the day's files."""
    kept = "\n".join(line for line in READ_THE_DAYS.splitlines() if "daily_flights" not in line)
    folder = tmp_path_factory.mktemp("template")
    with stack_without(server, folder, READ_THE_DAYS, kept + "\n") as started:
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


# A job script that reports what a run may do with its role: who it is, and each read, from
# boto3 and from Spark (which reads s3:// through S3A), done or refused.
PROBE_JOB = """
import boto3
from awsglue.context import GlueContext
from botocore.exceptions import ClientError
from pyspark.context import SparkContext


def main(argv):
    args = dict(zip(argv[1::2], argv[2::2]))
    bucket = args["--bucket"]
    spark = GlueContext(SparkContext.getOrCreate()).spark_session
    found = {"identity": boto3.client("sts").get_caller_identity()["Arn"]}
    for key in args["--keys"].split(","):
        try:
            found["boto3 " + key] = boto3.client("s3").get_object(Bucket=bucket, Key=key)[
                "Body"
            ].read().decode()
        except ClientError as error:
            found["boto3 " + key] = error.response["Error"]["Code"]
        try:
            found["spark " + key] = spark.read.text(f"s3://{bucket}/{key}").first().value
        except Exception as error:
            found["spark " + key] = "AccessDenied" if "AccessDenied" in str(error) else str(error)
    return found
"""


def test_a_job_run_calls_aws_with_the_role_it_is_given_from_boto3_and_from_spark(
    stack, tmp_path, monkeypatch
):
    """The local Glue runtime gives a run its role's session: the job's boto3 clients and its
    Spark's S3 reads are made with it, so the IAM check holds both to the role's policy, and a
    run's file systems are closed when it ends."""
    from flightpipe.gluelocal.runner import local_spark, run_job

    found = outputs(stack)
    role_arn = stack.client("iam").get_role(RoleName=role_name(stack, "DelayedFlightsJobRole"))[
        "Role"
    ]["Arn"]
    role = as_role(stack, role_arn)
    frozen = role.get_credentials().get_frozen_credentials()
    credentials = {
        "AWS_ACCESS_KEY_ID": frozen.access_key,
        "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
        "AWS_SESSION_TOKEN": frozen.token,
    }
    bucket = found["DataBucket"]
    # Neither key starts a run: the session's stack serves other modules' days.
    readable, unreadable = "glue-temp/iam-probe/readable.csv", "run-reports/iam-probe.json"
    for key in (readable, unreadable):
        stack.client("s3").put_object(Bucket=bucket, Key=key, Body=key.encode())
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.settings.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack.settings.region)
    script = tmp_path / "probe_job.py"
    script.write_text(PROBE_JOB, encoding="utf-8")

    report = run_job(
        script,
        {"JOB_RUN_ID": "jr_probe", "bucket": bucket, "keys": f"{readable},{unreadable}"},
        credentials=credentials,
    )

    assert report == {
        "identity": f"arn:aws:sts::000000000000:assumed-role/{role_arn.rsplit('/', 1)[-1]}/test",
        f"boto3 {readable}": readable,
        f"spark {readable}": readable,
        f"boto3 {unreadable}": "AccessDenied",
        f"spark {unreadable}": "AccessDenied",
    }
    jvm = local_spark().sparkContext._jvm
    assert jvm.flightpipe.hadoop.RunFileSystem.openCount() == 0


def test_the_day_job_runs_with_its_roles_session_and_is_held_to_its_policy(
    stack_without_reading_the_days, monkeypatch
):
    """The Glue service runs a job with a session of the job's role, as AWS's Glue does, and the
    job's Spark reads S3 with it: without s3:GetObject on the day's files, each day's run fails
    at its read and the e2e names the call."""
    stack = stack_without_reading_the_days
    report = e2e_report(stack, monkeypatch)
    role = role_name(stack, "DelayedFlightsJobRole")
    bucket = outputs(stack)["DataBucket"]
    # The e2e stops at the first refusal, of whichever day's run reads first.
    named = re.compile(
        rf"  arn:aws:sts::000000000000:assumed-role/{role}/GlueJobRunnerSession may not "
        rf"s3:GetObject on arn:aws:s3:::{bucket}/daily_flights/date=2013-01-0[1-7]/flights\.csv"
    )
    assert any(named.fullmatch(line) for line in report.splitlines()), report
