"""The state machine definition file: valid JSON, a Catch on every Task, placeholders filled.

The definition as deployed (the template's substitutions resolved by CloudFormation) is compared
with this file on the local stack by tests/integration/test_template_parity.py.
"""

from __future__ import annotations

import json
import re

from flightpipe_localstack import clock

from flightpipe.infra.template import TEMPLATE, load
from flightpipe.paths import REPO
from flightpipe.stack.deploy import LOCAL_CRAWLER_POLLING

STATE_MACHINE_FILE = REPO / "stepfunctions" / "pipeline.asl.json"


# The values a deployment of the stage local in LocalStack's account gives ``Fn::Sub``'s names.
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "Stage": "local",
}


def state_machine_definition() -> str:
    """The definition with every ``${Placeholder}`` filled with the parameters' defaults (as a
    deployment that sets none fills it), and names for the resources (their values are not
    read here)."""
    template = load()
    parameters = template["Parameters"]
    substitutions = template["Resources"]["PipelineStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    values = {}
    for placeholder, value in substitutions.items():
        if "Fn::FindInMap" in value:
            mapping, key, field = value["Fn::FindInMap"]
            values[placeholder] = template["Mappings"][mapping][key][field]
            continue
        if "Fn::Sub" in value:  # an ARN made of the stage's names
            values[placeholder] = re.sub(
                r"\$\{([\w:]+)\}", lambda m: PSEUDO[m.group(1)], value["Fn::Sub"]
            )
            continue
        name = value["Ref"]
        if name in parameters:
            values[placeholder] = str(parameters[name]["Default"])
        elif name == "AlertsTopic":  # a topic's Ref is its ARN
            values[placeholder] = "arn:aws:sns:us-east-1:000000000000:flightpipe-local-alerts"
        else:
            values[placeholder] = f"flightpipe-local-{name}"
    text = STATE_MACHINE_FILE.read_text()
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def states(definition: dict) -> dict:
    return definition["States"]


def test_the_file_is_valid_json_with_quoted_placeholders():
    text = STATE_MACHINE_FILE.read_text()
    definition = json.loads(text)
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    substitutions = load()["Resources"]["PipelineStateMachine"]["Properties"]
    assert placeholders == set(substitutions["DefinitionSubstitutions"])
    assert definition["StartAt"] in states(definition)


def test_the_template_deploys_this_file():
    """``aws cloudformation package`` uploads DefinitionS3Location, a path relative to the
    template's folder."""
    machine = load()["Resources"]["PipelineStateMachine"]["Properties"]
    assert (TEMPLATE.parent / machine["DefinitionS3Location"]).resolve() == STATE_MACHINE_FILE


def test_every_task_has_a_catch_and_every_retry_is_bounded():
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    for name, state in states(definition).items():
        if state["Type"] == "Task":
            assert state.get("Catch"), f"{name} has no Catch"
            assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name
        for retry in state.get("Retry", []):
            # Step Functions fails an execution whose history reaches 25,000 events (service
            # quotas); a retried task adds about four (TaskScheduled, TaskStarted, TaskSubmitted,
            # TaskFailed). And no retry may outlast the execution's own timeout.
            assert 0 < retry["MaxAttempts"] * 4 <= 25_000 // 10, name
            assert longest_retry_wait(retry) <= definition["TimeoutSeconds"], name


def longest_retry_wait(retry: dict) -> float:
    """Seconds a Retrier waits over all its attempts without jitter (AWS's defaults: interval
    1, backoff 2, no cap; "Handling errors in Step Functions workflows")."""
    interval, rate = retry.get("IntervalSeconds", 1), retry.get("BackoffRate", 2.0)
    cap = retry.get("MaxDelaySeconds", float("inf"))
    return sum(min(interval * rate**n, cap) for n in range(retry["MaxAttempts"]))


def test_a_job_slot_is_awaited_for_as_long_as_a_burst_of_forty_days_needs():
    """A burst's days queue for the day job's slots (MaxConcurrentRuns) in RunJob's retries of
    ConcurrentRunsExceededException. With FULL jitter each wait is on average half the computed
    interval; that average budget must cover 40 days through two slots at AWS-like times: a
    slot is held for the job's start and run, and its execution goes on after the next .sync
    poll (flightpipe_localstack.clock's ``aws`` model; ``benchmarks/simulate.py`` runs a burst)."""
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    (retry,) = [
        r
        for r in states(definition)["RunJob"]["Retry"]
        if "Glue.ConcurrentRunsExceededException" in r["ErrorEquals"]
    ]
    aws = clock.MODELS["aws"]
    per_day = aws.job_start_seconds + aws.job_run_seconds + aws.sync_poll_seconds
    assert retry["JitterStrategy"] == "FULL"
    assert longest_retry_wait(retry) / 2 >= 40 / 2 * per_day


def test_every_transition_leads_to_a_state():
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    names = set(states(definition))
    targets = set()
    for state in states(definition).values():
        targets |= transitions(state)
    assert targets <= names
    assert names - targets == {definition["StartAt"]}


def test_filled_definition_has_no_placeholder_left():
    filled = state_machine_definition()
    assert "${" not in filled
    configure = json.loads(filled)["States"]["Configure"]["Parameters"]["config"]
    assert configure["crawler_poll_seconds.$"] == "States.StringToJson('30')"
    assert configure["crawler_max_polls.$"] == "States.StringToJson('40')"


def test_the_local_stage_polls_the_crawler_more_often_within_the_same_bound():
    defaults = {name: int(load()["Parameters"][name]["Default"]) for name in LOCAL_CRAWLER_POLLING}
    local = {name: int(value) for name, value in LOCAL_CRAWLER_POLLING.items()}
    assert local["CrawlerPollSeconds"] < defaults["CrawlerPollSeconds"]
    assert (
        local["CrawlerPollSeconds"] * local["CrawlerMaxPolls"]
        == defaults["CrawlerPollSeconds"] * defaults["CrawlerMaxPolls"]
    )


def transitions(state: dict) -> set[str]:
    found = {v for k, v in state.items() if k in ("Next", "Default")}
    return found | {c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])}


# What a day does when its partition is catalogued, or when a crawl is running, is asserted on
# LocalStack's Step Functions running this file: tests/integration/test_crawls.py.


def test_every_crawler_poll_counts_towards_one_bound():
    machine = states(json.loads(STATE_MACHINE_FILE.read_text()))
    assert machine["GetCrawler"]["Next"] == "CountPoll"
    assert machine["CountPoll"]["Parameters"]["polls.$"] == "States.MathAdd($.polls, 1)"
    bound = [c for c in machine["CrawlerFinished"]["Choices"] if c.get("Next") == "CrawlerTimedOut"]
    assert bound[0]["NumericGreaterThanEqualsPath"] == "$.config.crawler_max_polls"


def test_the_filled_definition_passes_the_public_asl_validator(tmp_path):
    import subprocess

    validator = REPO / "tools" / "asl" / "node_modules" / ".bin" / "asl-validator"
    assert validator.exists(), "asl-validator is missing: run make install"
    filled = tmp_path / "pipeline.json"
    filled.write_text(state_machine_definition())
    result = subprocess.run(
        [str(validator), "--json-path", str(filled)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
