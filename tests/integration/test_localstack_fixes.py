"""Each patch of localstack/flightpipe_localstack, on a running LocalStack: what it fixes, and
that LocalStack without it still has the defect.

Three LocalStacks of the module's own, started as ``flightpipe local up`` starts one
(``tests/support/localstack_process.py``):

* ``patched``: every patch, the clock at ``SCALE`` simulated seconds per real second;
* ``unpatched``: every patch left out (``FLIGHTPIPE_LOCALSTACK_SKIP``), and no way out to the
  internet, as on a machine without one (LocalStack's own behaviour, for the patches that do not
  need another to be seen);
* ``interpreter_unpatched``: the Step Functions interpreter's, the role sessions' and
  CloudFormation's patches left out, the others in (their defects are behind the packages fix
  and the catalog's).

A test of the defect's side fails when LocalStack no longer has the defect: the patch can then
be dropped (each patch also refuses to apply to a LocalStack that changed where it patches,
tests/unit/test_localstack_patches.py). Glue is moto's, served from a thread: these tests are
of LocalStack's side of ``glue:startJobRun.sync``, which reads a run's state, and moto's Glue is
what the project's Glue service serves, without the real runs.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from flightpipe.devenv.postgres import free_port
from flightpipe.stack.deploy import DeployError, Deployment, apply_stack
from tests.support.localstack_process import PATCHES, OwnLocalStack, running_localstack

# Simulated seconds per real second on the patched LocalStack: an hour in one second.
SCALE = 3600
ROLE = "arn:aws:iam::000000000000:role/tests"
# A wait that ends within this many real seconds ran on the clock: unscaled, the shortest one
# here lasts a minute.
SCALED_BOUND = 30.0
# How long a minute-long wait is watched on a LocalStack without the clock.
WATCHED = 4.0


@pytest.fixture(scope="module")
def glue_backend(moto_server: str) -> str:
    """Glue for the LocalStacks that run Step Functions: the session's moto server."""
    return moto_server


@pytest.fixture(scope="module")
def patched(tmp_path_factory: pytest.TempPathFactory, glue_backend: str) -> Iterator[OwnLocalStack]:
    root = tmp_path_factory.mktemp("patched")
    with running_localstack(root, glue_backend, FLIGHTPIPE_TIME_SCALE=str(SCALE)) as localstack:
        yield localstack


@pytest.fixture(scope="module")
def unpatched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnLocalStack]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # LocalStack's downloads go through it, and fail
    with running_localstack(
        tmp_path_factory.mktemp("unpatched"),
        FLIGHTPIPE_LOCALSTACK_SKIP=",".join(PATCHES),
        OUTBOUND_HTTP_PROXY=nowhere,
        OUTBOUND_HTTPS_PROXY=nowhere,
    ) as localstack:
        yield localstack


@pytest.fixture(scope="module")
def interpreter_unpatched(
    tmp_path_factory: pytest.TempPathFactory, glue_backend: str
) -> Iterator[OwnLocalStack]:
    with running_localstack(
        tmp_path_factory.mktemp("interpreter-unpatched"),
        glue_backend,
        FLIGHTPIPE_LOCALSTACK_SKIP=(
            "sfn_sync_fix,sfn_sdk_timestamps,assumed_roles,clock,cfn,cfn_state_machine_name"
        ),
        FLIGHTPIPE_TIME_SCALE=str(SCALE),
    ) as localstack:
        yield localstack


def dropped(patch: str) -> str:
    return f"LocalStack no longer has the defect {patch} fixes: drop the patch"


# --- Step Functions helpers ---------------------------------------------------------------


def state_machine(localstack: OwnLocalStack, definition: dict[str, Any]) -> str:
    sfn = localstack.client("stepfunctions")
    name = f"m{time.monotonic_ns()}"
    return str(
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
            "stateMachineArn"
        ]
    )


def start(localstack: OwnLocalStack, definition: dict[str, Any]) -> str:
    arn = state_machine(localstack, definition)
    sfn = localstack.client("stepfunctions")
    return str(sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"])


def ended(localstack: OwnLocalStack, execution: str, within: float) -> dict[str, Any]:
    """The execution once it has ended; fails if it has not within ``within`` real seconds."""
    sfn = localstack.client("stepfunctions")
    deadline = time.monotonic() + within
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"still running after {within:.0f}s"
        time.sleep(0.05)
    return dict(described)


def events(localstack: OwnLocalStack, execution: str) -> list[str]:
    sfn = localstack.client("stepfunctions")
    return [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]


PASS = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}}


def failing_task(interval: int, attempts: int) -> dict[str, Any]:
    """A Task that fails every time (no such bucket), retried ``attempts`` times ``interval``
    simulated seconds apart, doubling."""
    return {
        "StartAt": "Read",
        "States": {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": "no-such-bucket-anywhere", "Key": "k"},
                "Retry": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": interval,
                        "BackoffRate": 2,
                        "MaxAttempts": attempts,
                    }
                ],
                "End": True,
            }
        },
    }


# --- packages_fix: localstack.packages on Python 3.11 -----------------------------------------


def test_step_functions_serves_on_python_3_11(patched):
    execution = start(patched, PASS)
    described = ended(patched, execution, within=SCALED_BOUND)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"ok": 1})


def test_without_the_packages_fix_every_step_functions_call_is_an_internal_error(unpatched):
    """``localstack/packages/api.py`` evaluates ``Lock | None`` at import, a TypeError before
    Python 3.13 (``threading.Lock`` is a function there)."""
    try:
        unpatched.client("stepfunctions").list_state_machines()
    except ClientError as refused:
        error = refused.response["Error"]
    else:
        pytest.fail(dropped("packages_fix"))
    assert error["Code"] == "InternalError"
    assert "unsupported operand type(s) for |" in error["Message"]


# --- sfn_sync_fix: glue:startJobRun.sync ----------------------------------------------------

RUN_JOB = {
    "StartAt": "RunJob",
    "States": {
        "RunJob": {
            "Type": "Task",
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {"JobName": "tests-job", "Arguments": {"--day": "2013-01-01"}},
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def glue_job(patched: OwnLocalStack) -> str:
    """A job in the Glue backend both LocalStacks forward to."""
    patched.client("glue").create_job(
        Name="tests-job", Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://x/j.py"}
    )
    return "tests-job"


def test_a_glue_sync_task_ends_with_its_runs_outcome(patched, glue_job):
    """ "Run a Job (.sync)" waits for the run to end, and its output is the run (AWS Step
    Functions Developer Guide, "Service integration patterns", "Run a Job (.sync)"): the
    pipeline's RunJob reads its Id and JobRunState."""
    described = ended(patched, start(patched, RUN_JOB), within=SCALED_BOUND)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    run = json.loads(described["output"])
    assert run["Id"].startswith("jr_")
    assert (run["JobName"], run["JobRunState"], run["Arguments"]) == (
        glue_job,
        "SUCCEEDED",
        {"--day": "2013-01-01"},
    )


def test_without_the_sync_fix_every_glue_sync_task_fails_at_its_end(
    interpreter_unpatched, glue_job
):
    """LocalStack 4.13.1's ``StateTaskServiceCallback._eval_integration_pattern`` ends in an
    unguarded ``callback_endpoint.interrupt_all()`` for an integration without a task token, and
    Glue is the only one (fixed upstream in 4.14.0)."""
    execution = start(interpreter_unpatched, RUN_JOB)
    described = ended(interpreter_unpatched, execution, within=SCALED_BOUND)
    assert described["status"] == "FAILED", dropped("sfn_sync_fix")
    assert described["error"] == "States.Runtime"
    assert "'NoneType' object has no attribute 'interrupt_all'" in described["cause"]


# --- sfn_sdk_timestamps: timestamps in aws-sdk task results -----------------------------------

# A task whose result holds timestamps (each bucket's CreationDate), written out as JSON text by
# States.JsonToString, as the pipeline's CrawlFailed state writes a crawl's LastCrawl.
BUCKETS_AS_TEXT = {
    "StartAt": "ListBuckets",
    "States": {
        "ListBuckets": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets",
            "ResultSelector": {"text.$": "States.JsonToString($.Buckets)"},
            "End": True,
        }
    },
}
AWS_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_timestamps_in_an_sdk_tasks_result_are_text(patched):
    """A task's result is JSON: its timestamps are strings such as "2013-08-23T01:02:15.422Z"
    (an aws-sdk task's DescribeStacks result quoted in sam-goodwin/functionless#489)."""
    patched.client("s3").create_bucket(Bucket=f"dated-{time.monotonic_ns()}")
    described = ended(patched, start(patched, BUCKETS_AS_TEXT), within=SCALED_BOUND)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    buckets = json.loads(json.loads(described["output"])["text"])
    assert buckets and all(AWS_TIMESTAMP.fullmatch(b["CreationDate"]) for b in buckets), buckets


def test_without_the_fix_writing_such_a_result_fails_the_execution(interpreter_unpatched):
    interpreter_unpatched.client("s3").create_bucket(Bucket=f"dated-{time.monotonic_ns()}")
    execution = start(interpreter_unpatched, BUCKETS_AS_TEXT)
    described = ended(interpreter_unpatched, execution, within=SCALED_BOUND)
    assert described["status"] == "FAILED", dropped("sfn_sdk_timestamps")
    assert described["error"] == "States.Runtime"
    assert "Object of type datetime is not JSON serializable" in described["cause"]


# --- assumed_roles: one role session for a state machine's tasks ------------------------------

# Two tasks in a row, each asking STS whom it runs as.
WHO_TWICE = {
    "StartAt": "First",
    "States": {
        "First": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sts:getCallerIdentity",
            "ResultPath": "$.first",
            "Next": "Second",
        },
        "Second": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sts:getCallerIdentity",
            "ResultPath": "$.second",
            "End": True,
        },
    },
}


def callers(localstack: OwnLocalStack, role: str = ROLE) -> tuple[str, str]:
    """The caller ARNs the two tasks of an execution of WHO_TWICE, under ``role``, ran as."""
    sfn = localstack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"m{time.monotonic_ns()}", definition=json.dumps(WHO_TWICE), roleArn=role
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    described = ended(localstack, execution, within=SCALED_BOUND)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    return output["first"]["Arn"], output["second"]["Arn"]


def test_tasks_run_in_one_session_of_their_state_machines_role(patched):
    """Each task runs as the state machine's role (AWS Step Functions Developer Guide, "How
    Step Functions works with IAM"); one session serves them, as AWS's does for the hour its
    credentials last, instead of an AssumeRole and a new client per task."""
    first, second = callers(patched)
    assert first == second and ":assumed-role/tests/" in first, (first, second)
    other, _ = callers(patched, "arn:aws:iam::000000000000:role/others")
    assert ":assumed-role/others/" in other, other


def test_without_the_patch_every_task_assumes_the_role_anew(interpreter_unpatched):
    first, second = callers(interpreter_unpatched)
    assert ":assumed-role/tests/" in first and first != second, dropped("assumed_roles")


# --- sfn_jsonpath_cache: each JSONPath parsed once ------------------------------------------
# A speed-up: what a path selects must not change, in any state or thread. (Its effect is CPU
# time, measured by benchmarks/burst.py; nothing about it is visible in an execution.)

# Every kind of path the interpreter evaluates: Parameters, an intrinsic's argument, ResultPath,
# a Choice variable, OutputPath; the same texts in every execution.
PATHS_EVERYWHERE = {
    "StartAt": "Shape",
    "States": {
        "Shape": {
            "Type": "Pass",
            "Parameters": {
                "day.$": "$.input.day",
                "label.$": "States.Format('day {} of {}', $.input.day, $.input.who)",
            },
            "ResultPath": "$.shaped",
            "Next": "Which",
        },
        "Which": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.input.day", "NumericGreaterThan": 10, "Next": "Late"}],
            "Default": "Early",
        },
        "Late": {"Type": "Pass", "Result": "late", "ResultPath": "$.shaped.when", "Next": "Out"},
        "Early": {"Type": "Pass", "Result": "early", "ResultPath": "$.shaped.when", "Next": "Out"},
        "Out": {"Type": "Pass", "OutputPath": "$.shaped", "End": True},
    },
}


def test_paths_select_what_they_did_in_concurrent_executions(patched):
    """Twenty executions at once, each with its own input, through one state machine: each
    output is its own input's (a parsed path is shared, the data it reads is not)."""
    sfn = patched.client("stepfunctions")
    machine = state_machine(patched, PATHS_EVERYWHERE)
    executions = {
        day: sfn.start_execution(
            stateMachineArn=machine,
            input=json.dumps({"input": {"day": day, "who": f"run{day}"}}),
        )["executionArn"]
        for day in range(1, 21)
    }
    for day, execution in executions.items():
        described = ended(patched, execution, within=SCALED_BOUND)
        assert described["status"] == "SUCCEEDED", described.get("cause")
        assert json.loads(described["output"]) == {
            "day": day,
            "label": f"day {day} of run{day}",
            "when": "late" if day > 10 else "early",
        }


# --- clock: Wait states, retries and .sync polls at FLIGHTPIPE_TIME_SCALE ----------------------


def test_a_one_hour_wait_ends_within_seconds_at_the_clock_scale(patched):
    hour = {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    execution = start(patched, hour)
    described = ended(patched, execution, within=SCALED_BOUND)
    assert described["status"] == "SUCCEEDED"
    assert "WaitStateExited" in events(patched, execution)


def test_retries_a_minute_apart_all_happen_at_the_clock_scale(patched):
    """Three retries 60, 120 and 240 simulated seconds apart: seven minutes of waiting, every
    attempt made, and the execution fails with the task's own error once they are spent."""
    execution = start(patched, failing_task(interval=60, attempts=3))
    described = ended(patched, execution, within=SCALED_BOUND)
    assert described["status"] == "FAILED"
    assert described["error"].startswith("S3."), described["error"]
    assert events(patched, execution).count("TaskFailed") == 4


def test_without_the_clock_waits_and_retries_take_their_real_seconds(interpreter_unpatched):
    """The same FLIGHTPIPE_TIME_SCALE, given to a LocalStack without the clock patch: a Wait of
    a minute, and a retry a minute after a first failure, are still waiting seconds later (then
    stopped)."""
    sfn = interpreter_unpatched.client("stepfunctions")
    minute = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
    waiting = start(interpreter_unpatched, minute)
    retrying = start(interpreter_unpatched, failing_task(interval=60, attempts=1))
    try:
        deadline = time.monotonic() + SCALED_BOUND
        while events(interpreter_unpatched, retrying).count("TaskFailed") == 0:
            assert time.monotonic() < deadline, "the first attempt did not fail"
            time.sleep(0.1)
        time.sleep(WATCHED)
        statuses = [sfn.describe_execution(executionArn=e)["status"] for e in (waiting, retrying)]
        assert statuses == ["RUNNING", "RUNNING"], dropped("clock")
        assert events(interpreter_unpatched, retrying).count("TaskFailed") == 1
    finally:
        for execution in (waiting, retrying):
            sfn.stop_execution(executionArn=execution)


# --- sns: Subjects AWS refuses ----------------------------------------------------------------

REFUSED_SUBJECTS = [
    pytest.param("two\nlines", id="line-break"),
    pytest.param("x" * 100, id="100-characters"),
    pytest.param("caf\u00e9 au lait", id="not-ascii"),
    pytest.param("a\ttab", id="control-character"),
    pytest.param(" leading space", id="leading-space"),
]


def topic(localstack: OwnLocalStack) -> str:
    return str(localstack.client("sns").create_topic(Name="tests-alerts")["TopicArn"])


@pytest.mark.parametrize("subject", REFUSED_SUBJECTS)
def test_publish_refuses_a_subject_aws_refuses(patched, subject):
    """Amazon SNS API Reference, Publish, Subject: "ASCII text that begins with a letter,
    number, or punctuation mark; must not include line breaks or control characters; and must
    be less than 100 characters long"; refused with InvalidParameter, "Invalid parameter:
    Subject" (the answer reported in getmoto/moto#1503 for a 101-character Subject)."""
    sns = patched.client("sns")
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic(patched), Message="m", Subject=subject)
    assert refused.value.response["Error"]["Code"] == "InvalidParameter"
    assert refused.value.response["Error"]["Message"] == "Invalid parameter: Subject"


def test_a_valid_subject_is_published(patched):
    answer = patched.client("sns").publish(
        TopicArn=topic(patched), Message="m", Subject="Flight pipeline FAILED: day 2013-01-05"
    )
    assert answer["MessageId"]


def test_a_state_machine_notification_with_such_a_subject_fails_its_task(patched):
    """The pipeline's notifications are ``sns:publish`` tasks: a Subject AWS refuses fails the
    task there, so it must fail here too."""
    notify = {
        "StartAt": "Notify",
        "States": {
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic(patched), "Message": "m", "Subject": "a\nb"},
                "End": True,
            }
        },
    }
    described = ended(patched, start(patched, notify), within=SCALED_BOUND)
    assert (described["status"], described["error"]) == ("FAILED", "SNS.InvalidParameterException")
    assert "Invalid parameter: Subject" in described["cause"]


@pytest.mark.parametrize("subject", REFUSED_SUBJECTS)
def test_without_the_fix_localstack_publishes_them(unpatched, subject):
    answer = unpatched.client("sns").publish(
        TopicArn=topic(unpatched), Message="m", Subject=subject
    )
    assert answer["MessageId"], dropped("sns")


# --- s3_events: the key in S3's EventBridge events --------------------------------------------

HOSTILE_KEY = "daily_flights/date=2024-01-02/part 1+2 (été).csv"


def object_created_key(localstack: OwnLocalStack, key: str) -> str:
    """Upload ``key`` to a bucket that sends its events to EventBridge; the key of the
    "Object Created" event a rule delivers."""
    s3, sqs, events = (localstack.client(s) for s in ("s3", "sqs", "events"))
    bucket = f"events-{time.monotonic_ns()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue = sqs.create_queue(QueueName=bucket)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}
    events.put_rule(Name=bucket, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=bucket, Targets=[{"Id": "queue", "Arn": queue_arn}])
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail-type"] == "Object Created":
                return str(event["detail"]["object"]["key"])
    raise AssertionError(f"no Object Created event for {key!r} within 30s")


def test_eventbridge_events_carry_the_key_as_stored(patched):
    """S3 URL-encodes the key only in its classic notification records ("The object key name
    value is URL encoded", Amazon S3 User Guide, "Event message structure"); its EventBridge
    events ("EventBridge event message structure") carry the key as stored, as in an event
    captured from AWS with a key holding ':' unencoded (gist vincentclaes/7a5eb53acc05b316c86
    769fed25d4e1a, "raw/health-check/2023-08-08T14:03:40.532432.zip")."""
    assert object_created_key(patched, HOSTILE_KEY) == HOSTILE_KEY


def test_without_the_fix_the_key_arrives_url_encoded(unpatched):
    """The handler would find no ``date=`` in ``date%3D...`` and ignore every day."""
    assert object_created_key(unpatched, HOSTILE_KEY) == quote(HOSTILE_KEY), dropped("s3_events")


# --- lambda_log_group: a function logs to the group its LoggingConfig names -----------------

LOGGING_HANDLER = """
def handler(event, context):
    print("logged by", context.function_name)
    return context.log_group_name
"""


@pytest.fixture(scope="module")
def log_group_unpatched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnLocalStack]:
    with running_localstack(
        tmp_path_factory.mktemp("log-group-unpatched"),
        FLIGHTPIPE_LOCALSTACK_SKIP="lambda_log_group",
    ) as localstack:
        yield localstack


def where_a_function_logs(localstack: OwnLocalStack) -> tuple[str, list[str]]:
    """A function whose LoggingConfig names a log group of its own, invoked once: the group its
    runtime was told (``context.log_group_name``) and the groups its line reached."""
    lambda_, logs = localstack.client("lambda"), localstack.client("logs")
    name = f"logs-{time.monotonic_ns()}"
    group = f"/aws/lambda/custom-{name}"
    logs.create_log_group(logGroupName=group)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", LOGGING_HANDLER)
    lambda_.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
        LoggingConfig={"LogFormat": "Text", "LogGroup": group},
    )
    lambda_.get_waiter("function_active_v2").wait(FunctionName=name)
    told = json.loads(lambda_.invoke(FunctionName=name)["Payload"].read())
    reached: list[str] = []
    deadline = time.monotonic() + 20
    while not reached and time.monotonic() < deadline:
        for candidate in (group, f"/aws/lambda/{name}"):
            try:
                found = logs.filter_log_events(logGroupName=candidate)["events"]
            except logs.exceptions.ResourceNotFoundException:
                continue
            if any(f"logged by {name}" in event["message"] for event in found):
                reached.append(candidate)
        time.sleep(0.5)
    return told, [r.removesuffix(name) for r in reached]


def test_a_function_logs_to_the_group_its_logging_config_names(patched):
    """Lambda Developer Guide, "Configuring advanced logging controls": a function's logs go to
    the custom log group its LoggingConfig names instead of /aws/lambda/<function name>."""
    told, reached = where_a_function_logs(patched)
    assert told.startswith("/aws/lambda/custom-logs-")
    assert reached == ["/aws/lambda/custom-"]


def test_without_the_fix_a_function_logs_to_the_default_group(log_group_unpatched):
    told, reached = where_a_function_logs(log_group_unpatched)
    assert told.startswith("/aws/lambda/logs-") and reached == ["/aws/lambda/"], dropped(
        "lambda_log_group"
    )


# --- events_rules: a disabled rule matches nothing ---------------------------------------------


def delivered_through_a_disabled_rule(localstack: OwnLocalStack) -> list[dict[str, Any]]:
    """The events a rule delivered to its queue after the rule was disabled and an event that
    matches it was put on the bus."""
    sqs, events = localstack.client("sqs"), localstack.client("events")
    name = f"disabled-{time.monotonic_ns()}"
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": [name]}))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.put_events(Entries=[{"Source": name, "DetailType": "test", "Detail": "{}"}])
    received = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
            received.append(json.loads(message["Body"]))
    return received


def test_a_disabled_rule_delivers_nothing(patched):
    """EventBridge API Reference, DisableRule: "When you disable a rule, the rule no longer
    matches events"."""
    assert delivered_through_a_disabled_rule(patched) == []


def test_without_the_fix_a_disabled_rule_still_delivers(unpatched):
    assert delivered_through_a_disabled_rule(unpatched) != [], dropped("events_rules")


# --- s3_listing: StartAfter and markers with EncodingType=url ---------------------------------

DAY_KEYS = [f"daily_flights/date=2013-01-0{day}/flights.csv" for day in (3, 4, 5)] + [
    "daily_flights/date=2013-01-05/late file.csv"
]


def bucket_of_days(localstack: OwnLocalStack) -> tuple[Any, str]:
    s3 = localstack.client("s3")
    bucket = f"days-{time.monotonic_ns()}"
    s3.create_bucket(Bucket=bucket)
    for key in DAY_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    return s3, bucket


AFTER = "daily_flights/date=2013-01-04/flights.csv"


def listings(s3: Any, bucket: str) -> dict[str, list[str]]:
    """What boto3 lists (it asks for EncodingType=url and decodes) after ``AFTER``, and a key a
    page."""

    def pages(operation: str, field: str) -> list[str]:
        config = {"PageSize": 1, "MaxItems": 20}
        paginator = s3.get_paginator(operation).paginate(Bucket=bucket, PaginationConfig=config)
        return [item["Key"] for page in paginator for item in page.get(field, [])]

    def keys(answer: dict[str, Any], field: str = "Contents") -> list[str]:
        return [item["Key"] for item in answer.get(field, [])]

    return {
        "StartAfter": keys(s3.list_objects_v2(Bucket=bucket, StartAfter=AFTER)),
        "Marker": keys(s3.list_objects(Bucket=bucket, Marker=AFTER)),
        "KeyMarker": keys(s3.list_object_versions(Bucket=bucket, KeyMarker=AFTER), "Versions"),
        "ListObjectsV2 pages": pages("list_objects_v2", "Contents"),
        "ListObjects pages": pages("list_objects", "Contents"),
        "ListObjectVersions pages": pages("list_object_versions", "Versions"),
    }


def test_listings_compare_raw_keys_and_page_through_every_key_once(patched):
    """Amazon S3 API Reference: ListObjectsV2 lists objects "in ascending order based on the key
    name", StartAfter "can be any key in the bucket"; with EncodingType=url S3 encodes only what
    it returns ("Delimiter, Prefix, Key, and StartAfter"; ListObjects: "Delimiter, Marker,
    Prefix, NextMarker, Key"; ListObjectVersions: "KeyMarker, NextKeyMarker, Prefix, Key, and
    Delimiter")."""
    s3, bucket = bucket_of_days(patched)
    after = DAY_KEYS[2:]
    assert listings(s3, bucket) == {
        "StartAfter": after,
        "Marker": after,
        "KeyMarker": after,
        "ListObjectsV2 pages": DAY_KEYS,
        "ListObjects pages": DAY_KEYS,
        "ListObjectVersions pages": DAY_KEYS,
    }


def test_without_the_fix_listings_after_a_day_are_empty_and_stop_after_a_page(unpatched):
    """LocalStack compares each key URL-encoded with the raw marker: ``date%3D...`` sorts
    before ``date=...``, so nothing is after a day's key, and the second page of a listing is
    empty. (boto3's pages of ListObjectVersions happen to come through: it sends back the
    NextKeyMarker LocalStack encoded.)"""
    s3, bucket = bucket_of_days(unpatched)
    found = listings(s3, bucket)
    assert (found["StartAfter"], found["Marker"], found["KeyMarker"]) == ([], [], []), dropped(
        "s3_listing"
    )
    assert found["ListObjectsV2 pages"] == found["ListObjects pages"] == DAY_KEYS[:1]


# --- catalog: CloudFormation's supported types without a download -----------------------------


def deploy(
    localstack: OwnLocalStack, folder: Path, name: str, template: dict[str, Any], **parameters: str
) -> dict[str, str]:
    """Create or update the stack ``flightpipe-<name>`` as ``flightpipe local up`` deploys the
    pipeline (``flightpipe.stack.deploy.apply_stack``: a change set); its outputs."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps(template), encoding="utf-8")
    deployment = Deployment(name, "unused", folder, {})
    return apply_stack(
        localstack.client("cloudformation"), deployment, path, parameters, timeout=60
    )


def test_cloudformation_creates_supported_types_and_names_an_unsupported_one(patched, tmp_path):
    deploy(patched, tmp_path, "catalog", {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    assert (
        patched.client("cloudformation").describe_stack_resource(
            StackName="flightpipe-catalog", LogicalResourceId="Topic"
        )["StackResourceDetail"]["ResourceStatus"]
        == "CREATE_COMPLETE"
    )
    with pytest.raises(
        DeployError, match=r"AWS::Cassandra::Keyspace resource .* not currently supported"
    ):
        deploy(
            patched,
            tmp_path,
            "unsupported",
            {"Resources": {"K": {"Type": "AWS::Cassandra::Keyspace"}}},
        )


def test_without_the_fix_offline_every_type_is_unsupported(unpatched, tmp_path):
    """The catalog LocalStack downloads from api.localstack.cloud cannot be fetched: then no
    type is known, and with CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=0 even a topic is refused."""
    try:
        deploy(
            unpatched, tmp_path, "catalog", {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
        )
    except DeployError as refused:
        assert re.search(r"the AWS::SNS::Topic resource .* not supported", str(refused))
    else:
        pytest.fail(dropped("catalog"))


# --- cfn: Fn::ToJsonString, resources whose condition is false, a state machine's name -------

SECRET = {
    "Transform": "AWS::LanguageExtensions",
    "Parameters": {"User": {"Type": "String"}, "Password": {"Type": "String", "NoEcho": True}},
    "Resources": {
        "Secret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": {"Fn::Sub": "${AWS::StackName}/warehouse"},
                "SecretString": {
                    "Fn::ToJsonString": {
                        "username": {"Ref": "User"},
                        "password": {"Ref": "Password"},
                        "stack": {"Fn::Sub": "${AWS::StackName}"},
                    }
                },
            },
        }
    },
    "Outputs": {"SecretArn": {"Value": {"Ref": "Secret"}}},
}


def secret_of(localstack: OwnLocalStack, folder: Path) -> str:
    outputs = deploy(localstack, folder, "secret", SECRET, User="alice", Password="s3cr=t")
    answer = localstack.client("secretsmanager").get_secret_value(SecretId=outputs["SecretArn"])
    return str(answer["SecretString"])


def test_to_json_string_writes_its_arguments_values(patched, tmp_path):
    """AWS CloudFormation User Guide, "Fn::ToJsonString": the object's intrinsic functions
    (Ref, Fn::Sub, ...) are resolved, then it is written as a JSON string: the pipeline's
    warehouse secret holds the user and password given as parameters."""
    assert json.loads(secret_of(patched, tmp_path)) == {
        "username": "alice",
        "password": "s3cr=t",
        "stack": "flightpipe-secret",
    }


def test_without_the_fix_the_references_are_written_as_text(interpreter_unpatched, tmp_path):
    written = json.loads(secret_of(interpreter_unpatched, tmp_path))
    assert written["username"] == {"Ref": "User"}, dropped("cfn (Fn::ToJsonString)")


# Two resources left out by a false condition, one reading the other's attribute (as the
# pipeline's TrailBucketPolicy reads TrailBucket.Arn for the stage local).
CONDITIONED = {
    "Parameters": {"Stage": {"Type": "String"}},
    "Conditions": {"IsDeployed": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Stage"}, "local"]}]}},
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
        "TrailBucket": {"Type": "AWS::S3::Bucket", "Condition": "IsDeployed"},
        "TrailBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Condition": "IsDeployed",
            "Properties": {
                "Bucket": {"Ref": "TrailBucket"},
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": {"Fn::GetAtt": ["TrailBucket", "Arn"]},
                        }
                    ]
                },
            },
        },
    },
}
UPDATED = {
    **CONDITIONED,
    "Resources": {**CONDITIONED["Resources"], "Another": {"Type": "AWS::SNS::Topic"}},
}


def test_a_stack_with_resources_left_out_by_a_condition_updates(patched, tmp_path):
    """A stack update is how a second ``flightpipe local up`` with a changed template deploys."""
    deploy(patched, tmp_path, "conditioned", CONDITIONED, Stage="local")
    deploy(patched, tmp_path, "conditioned", UPDATED, Stage="local")
    cloudformation = patched.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName="flightpipe-conditioned")["Stacks"][0]
    resources = cloudformation.describe_stack_resources(StackName="flightpipe-conditioned")
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert sorted(r["LogicalResourceId"] for r in resources["StackResources"]) == [
        "Another",
        "Topic",
    ]


def test_without_the_fix_the_update_cannot_be_described(interpreter_unpatched, tmp_path):
    deploy(interpreter_unpatched, tmp_path, "conditioned", CONDITIONED, Stage="local")
    try:
        deploy(interpreter_unpatched, tmp_path, "conditioned", UPDATED, Stage="local")
    except ClientError as refused:
        assert "Unresolved resource dependencies [TrailBucket]" in str(refused)
    else:
        pytest.fail(dropped("cfn (resources left out by a condition)"))


# A state machine with a name of its own, whose definition a parameter changes, and its name
# as an output (as the pipeline's StateMachineName output is).
NAMED_MACHINE = {
    "Parameters": {"Greeting": {"Type": "String"}},
    "Resources": {
        "Machine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": {"Fn::Sub": "${AWS::StackName}-machine"},
                "RoleArn": ROLE,
                "DefinitionString": {
                    "Fn::Sub": json.dumps(
                        {
                            "StartAt": "Say",
                            "States": {
                                "Say": {"Type": "Pass", "Result": "${Greeting}", "End": True}
                            },
                        }
                    )
                },
            },
        }
    },
    "Outputs": {"MachineName": {"Value": {"Fn::GetAtt": ["Machine", "Name"]}}},
}


def test_a_state_machine_updated_in_place_keeps_its_name(patched, tmp_path):
    """AWS CloudFormation User Guide, AWS::StepFunctions::StateMachine, return values: Fn::GetAtt
    returns ``Name``; a changed definition updates the machine in place (no replacement), so
    the name stays. A second ``flightpipe local up`` after an edit of the definition is this."""
    first = deploy(patched, tmp_path, "named", NAMED_MACHINE, Greeting="hello")
    second = deploy(patched, tmp_path, "named", NAMED_MACHINE, Greeting="goodbye")
    assert first == second == {"MachineName": "flightpipe-named-machine"}
    sfn = patched.client("stepfunctions")
    (machine,) = [
        m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == first["MachineName"]
    ]
    definition = sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert json.loads(definition["definition"])["States"]["Say"]["Result"] == "goodbye"


def test_without_the_fix_the_updated_machine_has_no_name(interpreter_unpatched, tmp_path):
    deploy(interpreter_unpatched, tmp_path, "named", NAMED_MACHINE, Greeting="hello")
    with pytest.raises(DeployError, match=r"output\(s\) without a value: MachineName"):
        deploy(interpreter_unpatched, tmp_path, "named", NAMED_MACHINE, Greeting="goodbye")
