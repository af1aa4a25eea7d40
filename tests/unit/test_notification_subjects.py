"""Notification subjects: the rule SNS applies to a Subject, and every subject the pipeline
builds (the handler's alert, the state machine's notifications) keeps to it.

The rule is ``flightpipe_localstack.sns.subject_problem``, which the local stack's SNS applies
to every Publish (LocalStack's own checks only for an empty Subject); the Publish it refuses is
tested against LocalStack in tests/integration/test_localstack_fixes.py.
"""

from __future__ import annotations

import json
import re

import pytest
from flightpipe_localstack.sns import SUBJECT_LIMIT, subject_problem

from flightpipe.paths import REPO

STATE_MACHINE_FILE = REPO / "stepfunctions" / "pipeline.asl.json"


@pytest.fixture
def pipeline(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "chalice_app"))
    from chalicelib import pipeline

    return pipeline


@pytest.mark.parametrize(
    "subject",
    ["Flight pipeline FAILED: day 2013-01-05", "x" * 99, "(punctuation) first", "1 number first"],
)
def test_subjects_sns_accepts(subject):
    assert subject_problem(subject) is None


@pytest.mark.parametrize(
    ("subject", "problem"),
    [
        ("", "empty"),
        ("x" * 100, "100 characters"),
        ("two\nlines", "a line break"),
        ("carriage\rreturn", "a line break"),
        ("a\ttab", "character '\\t'"),
        ("bell\x07", "character '\\x07'"),
        ("delete\x7f", "character '\\x7f'"),
        ("caf\u00e9", "character 'é'"),
        (" leading space", "does not begin with a letter, number or punctuation"),
    ],
)
def test_subjects_sns_refuses(subject, problem):
    """API Reference, Publish, Subject: "ASCII text that begins with a letter, number, or
    punctuation mark; must not include line breaks or control characters; and must be less than
    100 characters long"."""
    found = subject_problem(subject)
    assert found is not None and problem in found


@pytest.mark.parametrize(
    "text",
    [
        "x" * 100,
        "y" * 2000,
        "Flight pipeline FAILED: " + "daily_flights/date=2013-01-05/" + "k" * 1000,
        "line\nbreak\r\nand\ttab\x00nul",
        "\u00e9t\u00e9 \U0001f600 \u2028",
        "   leading spaces",
        "",
        "\n",
    ],
)
def test_the_handler_subject_is_always_one_sns_accepts(pipeline, text):
    subject = pipeline.notification_subject(text)
    assert subject_problem(subject) is None, subject
    assert len(subject) < SUBJECT_LIMIT


def test_a_long_subject_keeps_its_start_and_says_it_was_cut(pipeline):
    subject = pipeline.notification_subject("Flight pipeline FAILED: " + "k" * 200)
    assert subject.startswith("Flight pipeline FAILED: kkk") and subject.endswith("...")
    assert len(subject) == 99


def test_state_machine_subjects_are_built_from_bounded_values_only():
    """Every Subject of the state machine is a fixed text or formats the flight date (a
    YYYY-MM-DD the handler validated), the loaded row count and the run's label (a fixed text
    of the state machine: SMOKE TEST or none), never the key; formatted with the longest values
    they can take, they are subjects SNS accepts."""
    definition = json.loads(STATE_MACHINE_FILE.read_text())
    states = definition["States"]
    labels = [s["Result"]["label"] for s in states.values() if s.get("ResultPath") == "$.run"]
    assert sorted(labels) == ["", "SMOKE TEST: "]
    longest = {
        "$.input.flight_date": "2013-01-05",
        "$.result.report.rows_loaded": "9" * 19,
        "$.run.label": max(labels, key=len),
    }
    subjects = []
    for state in states.values():
        parameters = state.get("Parameters", {})
        for name in ("Subject", "subject"):
            if name in parameters:
                subjects.append(parameters[name])
        for name in ("Subject.$", "subject.$"):
            if name in parameters:
                formatted = re.fullmatch(r"States\.Format\('([^']*)', (.*)\)", parameters[name])
                if formatted is None:
                    assert parameters[name] == "$.notice.subject", parameters[name]
                    continue
                arguments = formatted.group(2).split(", ")
                assert set(arguments) <= set(longest), arguments
                subjects.append(formatted.group(1).format(*(longest[a] for a in arguments)))
    assert len(subjects) == 4
    for subject in subjects:
        assert subject_problem(subject) is None, subject
