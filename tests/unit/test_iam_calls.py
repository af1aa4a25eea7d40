"""Every IAM action in infra/pipeline.yaml is justified by an AWS call, and every call is allowed.

infra/iam-calls.yaml lists, per role and managed policy, the calls made with it: boto3 calls of
our code (checked against the code, read with ``ast``), awsglue calls with which Glue calls AWS
for the job, state machine Tasks (checked against the definition the template deploys), and what
AWS does on its own with the role, each naming its AWS page. Sources of the call-to-action
mappings: botocore's service models (operation and signing names), the Service Authorization
Reference for S3's exceptions, and the Step Functions integration pages, named in
tests/support/iam_audit.py beside each table.
"""

from __future__ import annotations

import json
import textwrap
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import cfn_yaml

from tests.support import iam_audit
from tests.support.iam_audit import CodeCall

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "pipeline.yaml"
CALLS = REPO / "infra" / "iam-calls.yaml"


@cache
def template() -> dict[str, Any]:
    return cfn_yaml.loads(TEMPLATE.read_text(), str(TEMPLATE))


@cache
def listed() -> dict[str, Any]:
    return yaml.safe_load(CALLS.read_text())


def described() -> dict[str, dict[str, Any]]:
    """Every role and managed policy iam-calls.yaml describes, by logical id."""
    return {**listed()["roles"], **listed()["managed_policies"]}


def entries(name: str, kind: str) -> list[dict[str, Any]]:
    return [entry for entry in described()[name]["calls"] if kind in entry]


def needed_actions(name: str) -> set[str]:
    """What the calls listed for ``name`` need, with those of the managed policies it attaches."""
    names = [name, *described()[name].get("managed_policies", [])]
    return {a for n in names for entry in described()[n]["calls"] for a in entry["actions"]}


@cache
def walk(entry: str) -> frozenset[CodeCall]:
    return frozenset(iam_audit.code_calls(REPO, entry))


def code_roles() -> list[str]:
    return sorted(name for name, role in listed()["roles"].items() if role.get("code"))


def state_machine_roles() -> list[str]:
    return sorted(name for name, role in listed()["roles"].items() if role.get("definition"))


def differences(allowed: set[str], needed: set[str], name: str) -> list[str]:
    """Unjustified and missing actions, compared as IAM compares them (case-insensitively)."""
    allowed_by, needed_by = {a.lower(): a for a in allowed}, {a.lower(): a for a in needed}
    unjustified = sorted(allowed_by[a] for a in allowed_by.keys() - needed_by.keys())
    missing = sorted(needed_by[a] for a in needed_by.keys() - allowed_by.keys())
    return [f"unjustified: {name} allows {a}, which no listed call needs" for a in unjustified] + [
        f"missing: a listed call needs {a}, which {name} does not allow" for a in missing
    ]


# --- the template against the list ----------------------------------------------------------


def test_every_role_and_managed_policy_of_the_template_is_described_and_no_other():
    assert set(iam_audit.template_grants(template())) == set(described())


@pytest.mark.parametrize("name", sorted(described()))
def test_the_template_allows_exactly_the_actions_the_listed_calls_need(name):
    grants = iam_audit.template_grants(template())
    assert not grants[name].external, f"{name} attaches policies outside the template"
    assert grants[name].managed_policies == set(described()[name].get("managed_policies", []))
    problems = differences(iam_audit.effective_actions(grants, name), needed_actions(name), name)
    assert not problems, "\n".join(problems)


def test_every_entry_names_its_source_and_is_one_kind_of_call():
    sources = set(listed()["sources"])
    kinds = {"call", "glue", "state", "aws"}
    for name, role in described().items():
        for entry in role["calls"]:
            assert len(kinds & set(entry)) == 1, f"{name}: {entry}"
            assert entry["actions"], f"{name}: {entry} needs no action"
            if "call" not in entry:  # a boto3 call's source is botocore's model (see below)
                assert entry.get("source") in sources, f"{name}: {entry} names no known source"


# --- the code against the list --------------------------------------------------------------


@pytest.mark.parametrize("name", code_roles())
def test_the_code_makes_exactly_the_boto3_calls_listed_for_its_role(name):
    """A new boto3 call fails here until it is listed (with the action it needs), and a listed
    call that the code no longer makes fails as stale."""
    made = {
        (c.call, c.where)
        for e in listed()["roles"][name]["code"]
        for c in walk(e)
        if c.kind == "call"
    }
    written = {(e["call"], e["in"]) for e in entries(name, "call")}
    assert not made - written, f"{name}: calls made but not in iam-calls.yaml: {made - written}"
    assert not written - made, f"{name}: stale calls in iam-calls.yaml: {written - made}"


@pytest.mark.parametrize("name", code_roles())
def test_the_code_makes_exactly_the_awsglue_calls_listed_for_its_role(name):
    """Glue calls AWS with the job's role for these (catalog reads, the connection, its secret,
    the Redshift writer's temporary directory)."""
    made = {
        (c.call, c.where)
        for e in listed()["roles"][name]["code"]
        for c in walk(e)
        if c.kind == "glue"
    }
    written = {(e["glue"], e["in"]) for e in entries(name, "glue")}
    assert made == written


@pytest.mark.parametrize("name", code_roles())
def test_each_listed_boto3_call_names_the_actions_botocore_maps_it_to(name):
    by_call = {(c.call, c.where): c for e in listed()["roles"][name]["code"] for c in walk(e)}
    for entry in entries(name, "call"):
        made = by_call.get((entry["call"], entry["in"]))
        if made is None:
            continue  # stale: reported by the test above
        assert made.service and made.method, made
        expected = iam_audit.call_actions(made.service, made.method, made.paginator)
        assert set(entry["actions"]) == expected, f"{name}: {entry['call']} needs {expected}"


# --- the state machine against the list -----------------------------------------------------


@pytest.mark.parametrize("name", state_machine_roles())
def test_every_task_of_the_state_machine_is_listed_with_its_integration_actions(name):
    definition = json.loads((REPO / listed()["roles"][name]["definition"]).read_text())
    tasks = iam_audit.task_resources(definition)
    written = {e["state"]: e for e in entries(name, "state")}
    assert set(tasks) == set(written), f"{name}: tasks {set(tasks)} listed {set(written)}"
    for state, resource in tasks.items():
        assert written[state]["resource"] == resource, state
        expected = iam_audit.integration_actions(resource)
        assert set(written[state]["actions"]) == expected, f"{state} needs {expected}"


# --- the list's entry points against the template -------------------------------------------


def _actor_roles() -> dict[str, set[str]]:
    """Role logical id -> what runs with it: job scripts and state machine definitions (repo
    paths) and Chalice functions (their logical ids)."""
    found: dict[str, set[str]] = {}
    for logical_id, resource in template()["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Glue::Job":
            what = _repo_path(props["Command"]["ScriptLocation"])
            role = props["Role"]
        elif kind == "AWS::StepFunctions::StateMachine":
            what, role = _repo_path(props["DefinitionS3Location"]), props["RoleArn"]
        elif kind == "AWS::Glue::Crawler" or (kind is None and "Role" in props):
            # the crawler, and Chalice's functions (whose Type Chalice's package adds)
            what, role = logical_id, props["Role"]
        else:
            continue
        found.setdefault(str(iam_audit.logical_id(role)), set()).add(what)
    return found


def _repo_path(relative_to_infra: str) -> str:
    return (TEMPLATE.parent / relative_to_infra).resolve().relative_to(REPO).as_posix()


def _chalice_logical_id(function: str) -> str:
    """Chalice names a function's resource by CamelCasing its name (on_object_created ->
    OnObjectCreated)."""
    return "".join(part.capitalize() for part in function.split("_"))


@pytest.mark.parametrize("name", sorted(listed()["roles"]))
def test_the_listed_entry_points_are_what_the_template_runs_with_the_role(name):
    role = listed()["roles"][name]
    actors = _actor_roles().get(name, set())
    expected = set()
    for entry in role.get("code", []):
        file, function = entry.split(":")
        expected.add(_chalice_logical_id(function) if file.startswith("chalice_app/") else file)
    if role.get("definition"):
        expected.add(role["definition"])
    if not expected:  # only AWS acts with it (the crawler)
        assert actors and all(a in template()["Resources"] for a in actors), name
        return
    assert actors == expected


# --- the reader itself ----------------------------------------------------------------------


def test_the_code_reader_finds_calls_through_parameters_tuples_and_project_modules(tmp_path):
    """The cases the pipeline's code uses, in a module written here: a client assigned from
    boto3.client (alone, in a tuple, after ``or``), passed to a function of another module under
    a parameter named like the service, and a paginator; a list's ``append`` is no AWS call."""
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "helpers.py").write_text(
        textwrap.dedent(
            """
            def listing(s3, bucket):
                return s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)

            def unrelated(items):
                items.append(1)
            """
        )
    )
    (tmp_path / "job" / "main.py").write_text(
        textwrap.dedent(
            """
            import boto3
            import helpers

            def main(sfn=None):
                s3, glue = boto3.client("s3"), boto3.client("glue")
                sfn = sfn or boto3.client("stepfunctions")
                helpers.listing(s3, "b")
                helpers.unrelated([])
                glue.get_job_runs(JobName="j")
                sfn.start_execution(stateMachineArn="a")
                (None or boto3.client("sns")).publish(TopicArn="t", Message="m")
                context.write_dynamic_frame.from_jdbc_conf(frame=None)
            """
        )
    )
    found = {(c.call, c.where) for c in iam_audit.code_calls(tmp_path, "job/main.py:main")}
    assert found == {
        ('s3.get_paginator("list_objects_v2")', "job/helpers.py:listing"),
        ("glue.get_job_runs", "job/main.py:main"),
        ("stepfunctions.start_execution", "job/main.py:main"),
        ("sns.publish", "job/main.py:main"),
        ("write_dynamic_frame.from_jdbc_conf", "job/main.py:main"),
    }


@pytest.mark.parametrize(
    ("service", "method", "paginator", "actions"),
    [
        ("s3", "get_paginator", "list_objects_v2", {"s3:ListBucket"}),
        ("s3", "upload_fileobj", None, {"s3:PutObject"}),
        ("glue", "get_paginator", "get_job_runs", {"glue:GetJobRuns"}),
        ("stepfunctions", "start_execution", None, {"states:StartExecution"}),
    ],
)
def test_calls_map_to_the_actions_the_service_authorization_reference_names(
    service, method, paginator, actions
):
    assert iam_audit.call_actions(service, method, paginator) == actions


def test_an_integration_without_a_documented_mapping_is_refused():
    with pytest.raises(KeyError):
        iam_audit.integration_actions("arn:aws:states:::ecs:runTask.sync")
