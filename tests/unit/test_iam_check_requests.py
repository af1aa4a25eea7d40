"""The local IAM check's reading of a request: its IAM action, the ARNs it acts on and its
condition keys (flightpipe_localstack/iam_check.py), as the Service Authorization Reference
names them."""

from __future__ import annotations

import pytest
from flightpipe_localstack.iam_check import (
    UnnamedResource,
    as_evaluated,
    operation_action,
    request_checks,
    request_resources,
)

ACCOUNT, REGION = "111122223333", "us-east-1"
GLUE = f"arn:aws:glue:{REGION}:{ACCOUNT}"


@pytest.mark.parametrize(
    ("service", "signing", "operation", "action"),
    [
        ("s3", "s3", "HeadObject", "s3:GetObject"),
        ("s3", "s3", "ListObjectsV2", "s3:ListBucket"),
        ("s3", "s3", "UploadPart", "s3:PutObject"),
        ("stepfunctions", "states", "StartExecution", "states:StartExecution"),
        ("glue", "glue", "GetPartition", "glue:GetPartition"),
        ("lambda", "lambda", "Invoke", "lambda:InvokeFunction"),
    ],
)
def test_the_action_is_the_operation_under_the_signing_name(service, signing, operation, action):
    assert operation_action(signing, service, operation) == action


@pytest.mark.parametrize(
    ("service", "operation", "params", "resources", "keys"),
    [
        ("s3", "GetObject", {"Bucket": "b", "Key": "a/b c.csv"}, ["arn:aws:s3:::b/a/b c.csv"], {}),
        (
            "s3",
            "ListObjectsV2",
            {"Bucket": "b", "Prefix": "daily_flights/"},
            ["arn:aws:s3:::b"],
            {"s3:prefix": "daily_flights/"},
        ),
        ("s3", "ListObjectsV2", {"Bucket": "b"}, ["arn:aws:s3:::b"], {"s3:prefix": ""}),
        (
            "glue",
            "GetPartition",
            {"DatabaseName": "d", "TableName": "t", "PartitionValues": ["x"]},
            [f"{GLUE}:catalog", f"{GLUE}:database/d", f"{GLUE}:table/d/t"],
            {},
        ),
        (
            "glue",
            "CreateTable",
            {"DatabaseName": "d", "TableInput": {"Name": "t"}},
            [f"{GLUE}:catalog", f"{GLUE}:database/d", f"{GLUE}:table/d/t"],
            {},
        ),
        (
            "glue",
            "GetTable",
            {"DatabaseName": "d", "Name": "t"},
            [f"{GLUE}:catalog", f"{GLUE}:database/d", f"{GLUE}:table/d/t"],
            {},
        ),
        ("glue", "GetJobRuns", {"JobName": "j"}, [f"{GLUE}:job/j"], {}),
        ("glue", "StartCrawler", {"Name": "c"}, [f"{GLUE}:crawler/c"], {}),
        (
            "sqs",
            "SendMessage",
            {"QueueUrl": f"http://localhost:4566/{ACCOUNT}/q", "MessageBody": "m"},
            [f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"],
            {},
        ),
        (
            "logs",
            "PutLogEvents",
            {"logGroupName": "/aws/lambda/f", "logStreamName": "s"},
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/f:log-stream:s"],
            {},
        ),
        ("sns", "Publish", {"TopicArn": "arn:t"}, ["arn:t"], {}),
        ("stepfunctions", "DescribeExecution", {"executionArn": "arn:e"}, ["arn:e"], {}),
    ],
)
def test_each_request_names_the_resources_it_acts_on(service, operation, params, resources, keys):
    assert request_resources(service, operation, params, REGION, ACCOUNT) == (resources, keys)


def test_a_request_whose_resource_cannot_be_named_is_refused_not_waved_through():
    with pytest.raises(UnnamedResource, match="no resource rule for the service kms"):
        request_resources("kms", "Decrypt", {}, REGION, ACCOUNT)
    with pytest.raises(UnnamedResource, match=r"glue\.GetJobs names no job"):
        request_resources("glue", "GetJobs", {}, REGION, ACCOUNT)


def test_line_terminators_in_a_key_reach_the_evaluator_as_a_character_its_wildcards_match():
    """AWS's "*" matches any character; the evaluator's stops at line terminators (JavaScript's
    "."), and an S3 key may hold them."""
    key = "arn:aws:s3:::b/daily_flights/a\nb\r\u2028\u2029 100%s it's.csv"
    assert (
        as_evaluated(key)
        == "arn:aws:s3:::b/daily_flights/a\u0001b\u0001\u0001\u0001 100%s it's.csv"
    )


@pytest.mark.parametrize(
    ("operation", "params", "checks"),
    [
        # Amazon S3 API reference, CopyObject: s3:GetObject on the source, s3:PutObject on the
        # target (S3A's rename of a committed task file).
        (
            "CopyObject",
            {"Bucket": "b", "Key": "q/part-0", "CopySource": "b/q/_temporary/0/part%2B0"},
            [
                ("s3:PutObject", "arn:aws:s3:::b/q/part-0"),
                ("s3:GetObject", "arn:aws:s3:::b/q/_temporary/0/part+0"),
            ],
        ),
        (
            "UploadPartCopy",
            {"Bucket": "b", "Key": "t", "CopySource": "/src/k?versionId=3", "PartNumber": 1},
            [("s3:PutObject", "arn:aws:s3:::b/t"), ("s3:GetObject", "arn:aws:s3:::src/k")],
        ),
        # DeleteObjects: s3:DeleteObject on each key (S3A deletes a directory's files at once).
        (
            "DeleteObjects",
            {"Bucket": "b", "Delete": {"Objects": [{"Key": "q/a"}, {"Key": "q/"}]}},
            [("s3:DeleteObject", "arn:aws:s3:::b/q/a"), ("s3:DeleteObject", "arn:aws:s3:::b/q/")],
        ),
        ("GetObject", {"Bucket": "b", "Key": "k"}, [("s3:GetObject", "arn:aws:s3:::b/k")]),
    ],
)
def test_copies_and_multi_object_deletes_need_an_action_per_object(operation, params, checks):
    assert request_checks("s3", "s3", operation, params, REGION, ACCOUNT) == (checks, {})


def test_a_copy_without_a_source_is_unnamed():
    with pytest.raises(UnnamedResource):
        request_checks("s3", "s3", "CopyObject", {"Bucket": "b", "Key": "k"}, REGION, ACCOUNT)


def test_a_secret_is_named_by_its_arn():
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:flightpipe-dev-warehouse-AbCdEf"
    checks, _ = request_checks(
        "secretsmanager", "secretsmanager", "GetSecretValue", {"SecretId": arn}, REGION, ACCOUNT
    )
    assert checks == [("secretsmanager:GetSecretValue", arn)]


@pytest.mark.parametrize(
    ("params", "arn"),
    [
        ({"FunctionName": "f"}, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"),
        ({"FunctionName": "f:live"}, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f:live"),
        (
            {"FunctionName": f"{ACCOUNT}:function:f"},
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f",
        ),
        (
            {"FunctionName": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f", "Qualifier": "3"},
            f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f:3",
        ),
    ],
)
def test_a_function_is_named_by_its_arn_with_the_qualifier_called(params, arn):
    """Lambda's Invoke takes a name, an ARN or a partial ARN, and a qualifier either way (Lambda
    API reference, Invoke: FunctionName); a version or alias has an ARN of its own."""
    assert request_resources("lambda", "Invoke", params, REGION, ACCOUNT) == ([arn], {})
