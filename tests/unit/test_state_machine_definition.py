"""The state machine definition file: valid JSON, a Catch on every Task, placeholders filled."""

from __future__ import annotations

import json
import re

import pytest

from flightpipe.infra import load
from flightpipe.stack.provision import STATE_MACHINE_FILE, script_file, state_machine_definition
from flightpipe.stack.template import local_stack

pytestmark = pytest.mark.unit


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
    machine = load()["Resources"]["PipelineStateMachine"]["Properties"]
    assert script_file(machine["DefinitionS3Location"]) == STATE_MACHINE_FILE


def test_every_task_has_a_catch_and_every_retry_is_bounded():
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    for name, state in states(definition).items():
        if state["Type"] == "Task":
            assert state.get("Catch"), f"{name} has no Catch"
            assert any("States.ALL" in c["ErrorEquals"] for c in state["Catch"]), name
        for retry in state.get("Retry", []):
            assert 0 < retry["MaxAttempts"] <= 30, name


def test_every_transition_leads_to_a_state():
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    names = set(states(definition))
    targets = set()
    for state in states(definition).values():
        targets.update(v for k, v in state.items() if k in ("Next", "Default"))
        targets.update(c["Next"] for c in state.get("Catch", []) + state.get("Choices", []))
    assert targets <= names
    assert names - targets == {definition["StartAt"]}


def test_filled_definition_has_no_placeholder_left():
    filled = state_machine_definition(local_stack())
    assert "${" not in filled
    configure = json.loads(filled)["States"]["Configure"]["Parameters"]["config"]
    assert configure["crawler_poll_seconds.$"] == "States.StringToJson('1')"


def test_crawler_running_is_retried_under_both_spellings():
    start = states(json.loads(STATE_MACHINE_FILE.read_text()))["StartCrawler"]
    errors = {e for r in start["Retry"] for e in r["ErrorEquals"]}
    assert {"Glue.CrawlerRunningException", "glue.CrawlerRunningException"} <= errors


def test_the_filled_definition_passes_the_public_asl_validator(tmp_path):
    import subprocess

    from tests.conftest import REPO

    validator = REPO / "tools" / "asl" / "node_modules" / ".bin" / "asl-validator"
    assert validator.exists(), "asl-validator is missing: run make install"
    filled = tmp_path / "pipeline.json"
    filled.write_text(state_machine_definition(local_stack()))
    result = subprocess.run(
        [str(validator), "--json-path", str(filled)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
