"""``make chalice-config``: each handler's role and environment, as infra/pipeline.yaml gives its
function, read from the stack outputs that state the same expressions."""

from __future__ import annotations

import json
import re

import pytest

from flightpipe.infra import template as infra
from flightpipe.infra.chalice_config import ChaliceConfigError, stage_section, write

OUTPUTS = {
    "DataBucket": "flightpipe-dev-databucket-1",
    "StateMachineArn": "arn:aws:states:us-east-1:111122223333:stateMachine:flightpipe-dev",
    "AlertsTopicArn": "arn:aws:sns:us-east-1:111122223333:flightpipe-dev-alerts",
    "ObjectCreatedHandlerRoleArn": "arn:aws:iam::111122223333:role/created",
    "ExecutionFailedHandlerRoleArn": "arn:aws:iam::111122223333:role/failed",
    "DayIsFreeRoleArn": "arn:aws:iam::111122223333:role/day",
    "DelayedFlightsJobName": "flightpipe-dev-delayed-flights",
}


def test_each_handler_gets_its_own_role_and_the_environment_of_its_function():
    section = stage_section(infra.load(), OUTPUTS, "dev")
    environment = {
        "DATA_BUCKET": OUTPUTS["DataBucket"],
        "STATE_MACHINE_ARN": OUTPUTS["StateMachineArn"],
        "ALERTS_TOPIC_ARN": OUTPUTS["AlertsTopicArn"],
        "STAGE": "dev",
    }
    assert section["lambda_functions"] == {
        "on_object_created": {
            "iam_role_arn": OUTPUTS["ObjectCreatedHandlerRoleArn"],
            "environment_variables": environment,
        },
        "on_execution_failed": {
            "iam_role_arn": OUTPUTS["ExecutionFailedHandlerRoleArn"],
            "environment_variables": environment,
        },
        "day_is_free": {
            "iam_role_arn": OUTPUTS["DayIsFreeRoleArn"],
            "environment_variables": {"DAY_JOB_NAME": OUTPUTS["DelayedFlightsJobName"]},
        },
    }
    assert section["iam_role_arn"] == OUTPUTS["ObjectCreatedHandlerRoleArn"]


def test_an_output_the_deployed_stack_lacks_is_named():
    older = {k: v for k, v in OUTPUTS.items() if k != "ExecutionFailedHandlerRoleArn"}
    with pytest.raises(ChaliceConfigError, match="no output ExecutionFailedHandlerRoleArn"):
        stage_section(infra.load(), older, "dev")


def test_a_value_no_output_states_is_named():
    template = infra.load()
    variables = template["Resources"]["OnObjectCreated"]["Properties"]["Environment"]["Variables"]
    variables["EXTRA"] = {"Ref": "AlertEmail"}
    with pytest.raises(
        ChaliceConfigError, match=re.escape('states {"Ref": "AlertEmail"}: add one')
    ):
        stage_section(template, OUTPUTS, "dev")


def test_the_stage_is_written_beside_the_rest_of_the_file(tmp_path):
    (tmp_path / ".chalice").mkdir()
    path = tmp_path / ".chalice" / "config.json"
    path.write_text(json.dumps({"version": "2.0", "app_name": "flightpipe", "stages": {}}))
    write(tmp_path, "dev", {"iam_role_arn": "r"})
    write(tmp_path, "prod", {"iam_role_arn": "p"})
    assert json.loads(path.read_text()) == {
        "version": "2.0",
        "app_name": "flightpipe",
        "stages": {"dev": {"iam_role_arn": "r"}, "prod": {"iam_role_arn": "p"}},
    }
