"""The local stack (LocalStack, with the project's Glue service) through boto3, as a user reaches
it: real crawls and job runs, S3 events through EventBridge to Lambda, SNS to SQS."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ResponseStreamingError

from flightpipe.stack.crawler import ONLY_LOG_POLICY
from tests.support.pipeline import TEST_ROLE, crawl, deploy_function, job_run, upload_day

DAY = "2013-01-02"


def test_crawl_creates_the_table_and_partitions(stack):
    upload_day(stack, DAY)
    crawler = crawl(stack)
    assert crawler["LastCrawl"]["Status"] == "SUCCEEDED"
    glue = stack.client("glue")
    table = glue.get_table(DatabaseName=stack.pipeline.glue_database, Name="daily_flights")["Table"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    # Other tests' days may add columns: the table's schema is the union over all days.
    assert {"carrier", "originairportid", "destairportid", "depdelay", "arrdelay"} <= set(columns)
    assert columns["carrier"] == "string"
    assert table["PartitionKeys"] == [{"Name": "date", "Type": "string"}]
    values = [
        p["Values"]
        for p in glue.get_partitions(
            DatabaseName=stack.pipeline.glue_database, TableName="daily_flights"
        )["Partitions"]
    ]
    assert [DAY] in values


def test_starting_a_running_crawler_is_refused(stack):
    glue = stack.client("glue")
    glue.create_crawler(
        Name="busy",
        Role=TEST_ROLE,
        DatabaseName=stack.pipeline.glue_database,
        Targets={"S3Targets": [{"Path": f"s3://{stack.pipeline.data_bucket}/dim/"}]},
    )
    glue.start_crawler(Name="busy")
    with pytest.raises(glue.exceptions.CrawlerRunningException):
        glue.start_crawler(Name="busy")
    stack.wait_for(lambda: glue.get_crawler(Name="busy")["Crawler"]["State"] == "READY")


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({}, ONLY_LOG_POLICY),
        ({"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "LOG"}, ONLY_LOG_POLICY),
        ({"UpdateBehavior": "LOG", "DeleteBehavior": "DEPRECATE_IN_DATABASE"}, ONLY_LOG_POLICY),
    ],
)
def test_create_crawler_refuses_new_folders_only_without_log_policies(stack, policy, message):
    """As AWS answers CreateCrawler (InvalidInputException, message quoted in
    LBHackney-IT/Data-Platform#2418)."""
    glue = stack.client("glue")
    with pytest.raises(glue.exceptions.InvalidInputException) as refused:
        glue.create_crawler(
            Name="incremental",
            Role=TEST_ROLE,
            DatabaseName=stack.pipeline.glue_database,
            Targets={"S3Targets": [{"Path": f"s3://{stack.pipeline.data_bucket}/dim/"}]},
            RecrawlPolicy={"RecrawlBehavior": "CRAWL_NEW_FOLDERS_ONLY"},
            **({"SchemaChangePolicy": policy} if policy else {}),
        )
    assert refused.value.response["Error"]["Message"] == message
    with pytest.raises(glue.exceptions.EntityNotFoundException):
        glue.get_crawler(Name="incremental")


def test_failed_crawl_reports_its_error(stack):
    glue = stack.client("glue")
    glue.create_crawler(
        Name="broken",
        Role=TEST_ROLE,
        DatabaseName=stack.pipeline.glue_database,
        Targets={"S3Targets": [{"Path": "s3://no-such-bucket/data/"}]},
    )
    glue.start_crawler(Name="broken")
    crawler = stack.wait_for(
        lambda: (c := glue.get_crawler(Name="broken")["Crawler"])["State"] == "READY" and c
    )
    assert crawler["LastCrawl"]["Status"] == "FAILED"
    assert "no-such-bucket does not exist" in crawler["LastCrawl"]["ErrorMessage"]


def test_job_run_loads_the_day_and_logs_to_a_file_named_by_run_id(with_airports):
    stack = with_airports
    upload_day(stack, DAY)
    crawl(stack)
    run = job_run(stack, {"--flight_date": DAY})
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    log = stack.settings.log_dir / "glue-jobs" / f"{run['Id']}.log"
    assert "SUCCEEDED" in log.read_text()
    report = json.load(
        stack.client("s3").get_object(
            Bucket=stack.pipeline.data_bucket, Key=f"run-reports/date={DAY}/{run['Id']}.json"
        )["Body"]
    )
    assert report["rows_loaded"] == 80


def test_job_run_that_raises_ends_failed_with_the_error(stack):
    run = job_run(stack, {"--flight_date": "2013-02-30"})
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"] == "ValueError: --flight_date '2013-02-30' is not a YYYY-MM-DD date"


def test_max_concurrent_runs_is_honoured(stack):
    stack.quiesce()
    glue = stack.client("glue")
    job = stack.pipeline.job
    limit = glue.get_job(JobName=job)["Job"]["ExecutionProperty"]["MaxConcurrentRuns"]
    runs = [
        glue.start_job_run(JobName=job, Arguments={"--flight_date": DAY})["JobRunId"]
        for _ in range(limit)
    ]
    with pytest.raises(glue.exceptions.ConcurrentRunsExceededException):
        glue.start_job_run(JobName=job, Arguments={"--flight_date": DAY})
    for run_id in runs:
        stack.wait_for(
            lambda r=run_id: (
                glue.get_job_run(JobName=job, RunId=r)["JobRun"]["JobRunState"]
                not in ("STARTING", "RUNNING")
            ),
            timeout=120,
        )


# Keys a person may give a file: a space, a plus, a line break, a percent sign, non-ASCII. S3's
# classic notification records URL-encode keys ("red flower.jpg" arrives as "red+flower.jpg");
# its EventBridge events carry them as stored (localstack/flightpipe_localstack/s3_events.py).
ECHOED_KEYS = [
    "echo/a b.csv",
    "echo/1+1=2.csv",
    "echo/line\nbreak.csv",
    "echo/100%41 caf\u00e9.csv",
]


def test_uploads_reach_a_rules_function_with_their_keys_exact_past_a_failing_target(stack):
    """An upload goes S3 -> EventBridge -> a rule's Lambda target, as the pipeline's uploads
    reach its handler: the event as S3 sends it, the key exactly as stored, and a target that
    cannot be invoked (listed first) does not keep the event from the others."""
    s3, events, lambda_ = stack.client("s3"), stack.client("events"), stack.client("lambda")
    echo_bucket = f"echo-received-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=echo_bucket)
    echo = deploy_function(stack, "echo", {"ECHO_BUCKET": echo_bucket})
    rule = f"echo-uploads-{uuid.uuid4().hex[:8]}"
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {
                    "bucket": {"name": [stack.pipeline.data_bucket]},
                    "object": {"key": [{"prefix": "echo/"}]},
                },
            }
        ),
    )
    missing = echo.rsplit(":", 1)[0] + ":no-such-function"
    events.put_targets(
        Rule=rule, Targets=[{"Id": "missing", "Arn": missing}, {"Id": "echo", "Arn": echo}]
    )
    try:
        for key in ECHOED_KEYS:
            s3.put_object(Bucket=stack.pipeline.data_bucket, Key=key, Body=b"x")

        def all_received() -> list[dict] | None:
            found = s3.list_objects_v2(Bucket=echo_bucket, Prefix="received/").get("Contents", [])
            if len(found) < len(ECHOED_KEYS):
                return None
            try:
                return [
                    json.load(s3.get_object(Bucket=echo_bucket, Key=o["Key"])["Body"])
                    for o in found
                ]
            except ResponseStreamingError:
                # Asynchronous invocations are at least once, and a repeated one (same request
                # id) writes its file again; LocalStack 4.13.1's S3 closes the data of an
                # object it replaces (services/s3/storage/ephemeral.py, remove), which ends a
                # GET streaming it at that moment short. AWS's GET would finish: read again.
                return None

        bodies = stack.wait_for(all_received, what="an event per upload at the function")
    finally:
        events.remove_targets(Rule=rule, Ids=["missing", "echo"])
        events.delete_rule(Name=rule)
        lambda_.delete_function(FunctionName=echo)

    assert sorted(b["detail"]["object"]["key"] for b in bodies) == sorted(ECHOED_KEYS)
    for body in bodies:
        assert (body["source"], body["detail-type"]) == ("aws.s3", "Object Created")
        assert body["detail"]["reason"] == "PutObject"
        assert body["detail"]["bucket"]["name"] == stack.pipeline.data_bucket
        assert body["resources"] == [f"arn:aws:s3:::{stack.pipeline.data_bucket}"]


def test_sns_publish_arrives_on_the_alerts_queue(stack):
    sns = stack.client("sns")
    sns.publish(
        TopicArn=stack.pipeline.alerts_topic_arn,
        Subject="Pipeline test",
        Message=json.dumps({"hello": "world"}),
    )
    alert = stack.alert(lambda a: a.get("Subject") == "Pipeline test")
    assert alert["body"] == {"hello": "world"}


def test_warm_up_starts_spark_and_s3a_and_leaves_no_bucket_behind(stack):
    """The stack warms the job's transforms and S3A's request path (``flightpipe.stack.warmup``)
    before the first run; the S3A probe asks for a bucket that does not exist."""
    from urllib.request import urlopen

    from flightpipe.stack.warmup import S3A_PROBE

    def warmed() -> dict | None:
        with urlopen(f"{stack.settings.endpoint_url}/_flightpipe/health") as answer:
            health = json.load(answer)
        return None if health["spark"] == "starting" else health

    health = stack.wait_for(warmed, timeout=180, what="the Spark warm-up")

    assert health["spark"] == "warm"
    buckets = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
    assert S3A_PROBE.split("/")[2] not in buckets
