"""Helpers of the pipeline tests: upload as a user does, find the execution it started, read
what the handlers logged, deploy a test function."""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import psycopg

from flightpipe.commands.e2e import FACT_COLUMNS, expected_fact_rows
from flightpipe.commands.generate import generate_day
from flightpipe.paths import REPO
from flightpipe.stack.deploy import LOCAL_STAGE, stack_name

SAMPLE = REPO / "sample_data"
TEST_FUNCTIONS = REPO / "tests" / "fixtures" / "lambdas" / "handlers.py"
# LocalStack checks only a role ARN's form; the account is the stack's, as every ARN here.
TEST_ROLE = "arn:aws:iam::000000000000:role/flightpipe-tests"


def upload(stack, key: str, body: bytes) -> str:
    s3 = stack.client("s3")
    s3.put_object(Bucket=stack.pipeline.data_bucket, Key=key, Body=body)
    return s3.head_object(Bucket=stack.pipeline.data_bucket, Key=key)["ETag"].strip('"')


# The input of every execution seen, by ARN: an input never changes, and the session's stack
# holds hundreds of executions, which a poll would otherwise describe ten times a second.
_INPUTS: dict[str, dict] = {}


def executions_for(stack, key: str) -> list[dict]:
    sfn = stack.client("stepfunctions")
    found = []
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=stack.pipeline.state_machine_arn
    )
    for item in (item for page in pages for item in page["executions"]):
        arn = item["executionArn"]
        if arn not in _INPUTS:
            _INPUTS[arn] = json.loads(sfn.describe_execution(executionArn=arn)["input"])
        if _INPUTS[arn].get("key") == key:
            found.append(sfn.describe_execution(executionArn=arn))
    return found


def finished(stack, key: str, etag: str, timeout: float = 240) -> dict:
    def done():
        for execution in executions_for(stack, key):
            started_with = json.loads(execution["input"])
            if started_with["etag"] == etag and execution["status"] != "RUNNING":
                return stack.client("stepfunctions").describe_execution(
                    executionArn=execution["executionArn"]
                )
        return None

    return stack.wait_for(done, timeout=timeout, what=f"the execution for {key}")


def failure(stack, execution_arn: str) -> str:
    """The error and cause of the execution's last failed step (before its own failure)."""
    events = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=100
    )["events"]
    for event in events:
        if event["type"].endswith("Failed") and event["type"] != "ExecutionFailed":
            details = next(v for k, v in event.items() if k.endswith("EventDetails"))
            return f"{event['type']}: {details.get('error')}: {str(details.get('cause'))[:1500]}"
    return "no failed step in the history"


def start_own_crawl(stack) -> None:
    """Start a crawl of our own, once the pipeline's own crawls (if any) let it start."""
    glue, name = stack.client("glue"), stack.pipeline.crawler

    def started() -> bool:
        try:
            glue.start_crawler(Name=name)
        except glue.exceptions.CrawlerRunningException:
            return False
        return True

    stack.wait_for(started, what="a crawl of our own")


def fact_rows(stack, day: str) -> list[tuple]:
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT carrier, dep_delay FROM airlines.daily_flights_fact WHERE flight_date = %s "
            "ORDER BY carrier, dep_delay",
            (date.fromisoformat(day),),
        ).fetchall()


def job_run(stack, arguments: dict[str, str], timeout: float = 240) -> dict:
    """Start a run of the provisioned day job and wait until it ends; its GetJobRun answer."""
    glue = stack.client("glue")
    job = stack.pipeline.job
    started: list[str] = []

    def start() -> bool:  # the pipeline's own runs may hold both slots: wait as it does
        try:
            started.append(glue.start_job_run(JobName=job, Arguments=arguments)["JobRunId"])
        except glue.exceptions.ConcurrentRunsExceededException:
            return False
        return True

    stack.wait_for(start, timeout, "a free job slot")
    run_id = started[0]
    return dict(
        stack.wait_for(
            lambda: (
                (r := glue.get_job_run(JobName=job, RunId=run_id)["JobRun"])["JobRunState"]
                not in ("STARTING", "RUNNING")
                and r
            ),
            timeout=timeout,
            what=f"job run {run_id}",
        )
    )


def runs_of(stack, day: str) -> list[tuple]:
    """The run table's rows of a day: (run_id, status, rows_loaded), oldest first."""
    with psycopg.connect(stack.database_url) as conn:
        return conn.execute(
            "SELECT run_id, status, rows_loaded FROM airlines.pipeline_runs "
            "WHERE flight_date = %s ORDER BY started_at, run_id",
            (date.fromisoformat(day),),
        ).fetchall()


@dataclass(frozen=True)
class LoadedDay:
    rows: list[tuple]
    runs: list[tuple]


def loaded_day(stack, day: str, body: bytes | str, name: str = "flights.csv") -> LoadedDay:
    """Upload a day's file, wait for its run to succeed; the day as the warehouse then holds it
    (so that a test can fault a reload and check nothing of it was committed)."""
    key = f"daily_flights/date={day}/{name}"
    etag = upload(stack, key, body.encode() if isinstance(body, str) else body)
    execution = finished(stack, key, etag)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    state = LoadedDay(fact_rows(stack, day), runs_of(stack, day))
    assert state.rows and state.runs, f"{key} loaded nothing"
    return state


def load_airports(stack):
    etag = upload(stack, "dim/airports.csv", (SAMPLE / "airports.csv").read_bytes())
    assert finished(stack, "dim/airports.csv", etag)["status"] == "SUCCEEDED"
    return stack


@contextlib.contextmanager
def warehouse_unreachable(stack) -> Iterator[None]:
    """The Glue connection points at a port nothing listens on, for the block; then it is the
    connection it was, whole (UpdateConnection replaces every field of the definition)."""
    from flightpipe.devenv.postgres import free_port

    glue = stack.client("glue")
    name = stack.pipeline.glue_connection
    connection = glue.get_connection(Name=name, HidePassword=False)["Connection"]
    good = {
        key: connection[key]
        for key in (
            "Name",
            "Description",
            "ConnectionType",
            "ConnectionProperties",
            "PhysicalConnectionRequirements",
        )
        if connection.get(key) is not None
    }
    broken = {
        **good,
        "ConnectionProperties": {
            **good["ConnectionProperties"],
            "JDBC_CONNECTION_URL": f"jdbc:postgresql://127.0.0.1:{free_port()}/nowhere",
        },
    }
    glue.update_connection(Name=name, ConnectionInput=broken)
    try:
        yield
    finally:
        glue.update_connection(Name=name, ConnectionInput=good)


def function_name(stack, logical_id: str) -> str:
    """The name CloudFormation gave a function of the deployed stack (``OnObjectCreated``,
    ``OnExecutionFailed``)."""
    found = stack.client("cloudformation").describe_stack_resource(
        StackName=stack_name(LOCAL_STAGE), LogicalResourceId=logical_id
    )
    return str(found["StackResourceDetail"]["PhysicalResourceId"])


def function_log(stack, name: str) -> list[str]:
    """Every message a function logged, from its log group in CloudWatch Logs (the one its
    LoggingConfig names, else Lambda's default), oldest first."""
    logs = stack.client("logs")
    config = stack.client("lambda").get_function_configuration(FunctionName=name)
    group = config.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}"
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
    try:
        events = [event for page in pages for event in page["events"]]
    except logs.exceptions.ResourceNotFoundException:  # not invoked yet
        return []
    return [event["message"] for event in sorted(events, key=lambda e: e["timestamp"])]


def handler_logged(stack, logical_id: str, text: str, timeout: float = 60.0) -> str:
    """The first line of the pipeline handler's log that holds ``text``, once it is there."""
    name = function_name(stack, logical_id)

    def found() -> str | None:
        for message in function_log(stack, name):
            for line in message.splitlines():
                if text in line:
                    return line
        return None

    return str(stack.wait_for(found, timeout, f"{text!r} in the log of {logical_id}"))


def deploy_function(stack, handler: str, environment: dict[str, str], timeout: int = 30) -> str:
    """A function of ``tests/fixtures/lambdas/handlers.py`` (``handler``), created from a plain
    zip as a user creates one; its ARN, once it can be invoked."""
    lambda_ = stack.client("lambda")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.write(TEST_FUNCTIONS, "handlers.py")
    arn = lambda_.create_function(
        FunctionName=f"test-{handler.replace('_', '-')}-{uuid.uuid4().hex[:8]}",
        Runtime="python3.11",
        Role=TEST_ROLE,
        Handler=f"handlers.{handler}",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": environment},
        Timeout=timeout,
    )["FunctionArn"]
    lambda_.get_waiter("function_active_v2").wait(FunctionName=arn)
    return str(arn)


def queue(stack, name: str) -> tuple[str, str]:
    """A new SQS queue of the test's own: its URL and ARN."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attributes["Attributes"]["QueueArn"]


def received(stack, queue_url: str, wait: float) -> list[dict]:
    """The bodies (parsed) of the messages that arrive on ``queue_url`` within ``wait`` seconds,
    each deleted once read."""
    sqs = stack.client("sqs")
    deadline = time.monotonic() + wait
    found: list[dict] = []
    while time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            found.append(json.loads(message["Body"]))
    return found


def assert_burst_loads_each_day_once(
    stack, days: list[date], tmp_path, timeout: float = 240
) -> None:
    """Upload a generated file for each of ``days`` at once; each day ends SUCCEEDED, loaded
    once (one run record) with exactly the rows an independent computation expects. Each
    execution is awaited for up to ``timeout`` seconds after the previous one ended."""
    for day in days:
        generate_day(
            tmp_path / "daily_flights" / f"date={day}" / "flights.csv",
            day,
            60,
            seed=day.toordinal(),
        )

    def put(day: date) -> tuple[str, str]:
        key = f"daily_flights/date={day}/flights.csv"
        return key, upload(stack, key, (tmp_path / key).read_bytes())

    with ThreadPoolExecutor(max_workers=8) as pool:
        uploads = list(pool.map(put, days))

    ended = {key: finished(stack, key, etag, timeout) for key, etag in uploads}
    failed = {
        key: (e["status"], failure(stack, e["executionArn"]))
        for key, e in ended.items()
        if e["status"] != "SUCCEEDED"
    }
    assert not failed, failed
    with psycopg.connect(stack.database_url) as conn:
        loaded = conn.execute(
            f"SELECT {', '.join(FACT_COLUMNS)} FROM airlines.daily_flights_fact "
            "WHERE flight_date = ANY(%s)",
            (days,),
        ).fetchall()
        runs = conn.execute(
            "SELECT flight_date, count(*) FROM airlines.pipeline_runs WHERE flight_date = ANY(%s) "
            "GROUP BY 1",
            (days,),
        ).fetchall()
    expected = expected_fact_rows(
        str(tmp_path / "daily_flights" / "date=*" / "flights.csv"),
        REPO / "sample_data" / "airports.csv",
    )
    assert sorted(loaded, key=repr) == sorted(expected, key=repr)
    assert sorted(runs) == [(day, 1) for day in days]


def upload_day(stack, day: str) -> None:
    key = f"daily_flights/date={day}/flights.csv"
    stack.client("s3").upload_file(str(SAMPLE / key), stack.pipeline.data_bucket, key)


def crawl(stack) -> dict:
    """Run a crawl that starts after this call (the pipeline's own crawls may be running)."""
    glue, name = stack.client("glue"), stack.pipeline.crawler
    start_own_crawl(stack)
    stack.wait_for(lambda: glue.get_crawler(Name=name)["Crawler"]["State"] == "READY", what="crawl")
    return glue.get_crawler(Name=name)["Crawler"]
