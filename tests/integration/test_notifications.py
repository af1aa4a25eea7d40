"""Notifications that cannot fail on the key, and runs named from object versions, through the
local stack."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from flightpipe.paths import REPO
from tests.support.pipeline import executions_for, fact_rows, finished, upload

SAMPLE = REPO / "sample_data"


@pytest.mark.parametrize(
    "subject",
    ["x" * 100, "two\nlines", "a\ttab", "caf\u00e9", " leading space", ""],
    ids=["100 characters", "line break", "control character", "non-ASCII", "space first", "empty"],
)
def test_publish_refuses_a_subject_aws_refuses_with_aws_error(stack, subject):
    """API Reference, Publish, Subject: "ASCII text that begins with a letter, number, or
    punctuation mark; must not include line breaks or control characters; and must be less than
    100 characters long"; AWS answers InvalidParameter, "Invalid parameter: Subject"
    (getmoto/moto#1503). moto 5.2.5 alone refuses only more than 100 characters."""
    sns = stack.client("sns")
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=stack.pipeline.alerts_topic_arn, Subject=subject, Message="m")
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert refused.value.response["Error"]["Message"] == "Invalid parameter: Subject"


def test_publish_accepts_a_subject_of_99_characters(stack):
    sns, topic = stack.client("sns"), stack.pipeline.alerts_topic_arn
    sns.publish(TopicArn=topic, Subject="S" * 99, Message="ninety-nine")
    alert = stack.alert(lambda a: a.get("Message") == "ninety-nine")
    assert alert["Subject"] == "S" * 99


def test_a_batch_with_a_subject_aws_refuses_is_refused_whole(stack):
    """PublishBatch checks every entry's Subject as Publish does. A batch with an invalid entry
    is refused as a whole, publishing none of it (LocalStack's reading of AWS, which "fails the
    whole publish if something is wrong in the format of 1 message": localstack/localstack
    4.13.1, services/sns/provider.py, publish_batch; flightpipe_localstack/sns.py follows it)."""
    sns, topic = stack.client("sns"), stack.pipeline.alerts_topic_arn
    with pytest.raises(ClientError) as refused:
        sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[
                {"Id": "good", "Subject": "Flights ok", "Message": "batch-good"},
                {"Id": "bad", "Subject": "two\nlines", "Message": "batch-bad"},
            ],
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert refused.value.response["Error"]["Message"] == "Invalid parameter: Subject"
    answer = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "next", "Subject": "Flights ok", "Message": "batch-next"}
        ],
    )
    assert [s["Id"] for s in answer["Successful"]] == ["next"]
    stack.alert(lambda a: a.get("Message") == "batch-next")
    assert not [a for a in stack.unclaimed if a.get("Message") in ("batch-good", "batch-bad")]


def test_a_failure_for_a_long_key_with_a_line_break_is_notified_with_its_real_cause(
    with_airports,
):
    """The subject names the day; the key (about 900 characters, a line break in it), the
    error and the cause are in the message, with the command that reruns the day. A subject
    built from the key would be refused and the Fail state's fixed cause would hide the run's."""
    stack, day = with_airports, "2014-05-01"
    name = "first line\nsecond line " + "k" * 850
    key = f"daily_flights/date={day}/{name}.csv"
    assert 890 <= len(key) <= 920
    etag = upload(stack, key, b"Carrier,OriginAirportID,DestAirportID,ArrDelay\nAA,10397,12478,5\n")

    execution = finished(stack, key, etag)

    assert (execution["status"], execution["error"]) == ("FAILED", "PipelineFailed")
    alert = stack.alert(lambda a: (a.get("body") or {}).get("key") == key)
    assert alert["Subject"] == f"Flight pipeline FAILED: day {day}"
    body = alert["body"]
    glue = stack.client("glue")
    [run] = [
        r
        for r in glue.get_job_runs(JobName=stack.pipeline.job)["JobRuns"]
        if r.get("Arguments", {}).get("--input_key") == key
    ]
    assert run["JobRunState"] == "FAILED"
    assert body["Error"] == "States.TaskFailed"
    assert json.loads(body["Cause"])["ErrorMessage"] == run["ErrorMessage"]
    assert body["replay"] == f"make replay STAGE=local DATE={day}"
    assert body["execution"] == execution["executionArn"]
    assert (body["bucket"], body["etag"]) == (stack.pipeline.data_bucket, etag)


@pytest.fixture
def versioned(stack):
    """The data bucket versioned, as deployed; the previous state is restored as nearly as S3
    allows (a bucket that was never versioned can only be suspended)."""
    s3, bucket = stack.client("s3"), stack.pipeline.data_bucket
    before = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    yield stack
    if before != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})


def test_identical_bytes_uploaded_again_run_again_once_per_version(with_airports, versioned):
    """A failed day can be fixed by uploading the same file again: each upload is a new object
    version, its event carries the version id, and each version starts one execution."""
    stack, day = versioned, "2014-05-02"
    key = f"daily_flights/date={day}/flights.csv"
    body = (SAMPLE / "daily_flights/date=2013-01-07/flights.csv").read_bytes()
    s3, bucket = stack.client("s3"), stack.pipeline.data_bucket
    versions = [s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"] for _ in range(2)]
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    assert len(set(versions)) == 2

    def ended() -> list[dict] | None:
        runs = executions_for(stack, key)
        done = [r for r in runs if r["status"] != "RUNNING"]
        return runs if len(done) == len(runs) == 2 else None

    runs = stack.wait_for(ended, timeout=300, what="one execution per version")
    started = [json.loads(r["input"]) for r in runs]
    assert sorted(s["version_id"] for s in started) == sorted(versions)
    assert {s["etag"] for s in started} == {etag}
    assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(fact_rows(stack, day)) == 42
