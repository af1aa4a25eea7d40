"""The design card's deploy command, ``chalice deploy --stage local``, run in ``chalice_app/`` with
``.local/stack.env`` sourced, against a stack deployed with ``HandlersDeployedBy=chalice``: the
handlers it deploys get their roles and environment from the stack's outputs
(``make chalice-config``) and run the pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightpipe import cli
from flightpipe.infra.chalice_config import HANDLERS
from flightpipe.infra.stages import local_values
from flightpipe.paths import REPO
from tests.support.pipeline import load_airports, loaded_day
from tests.support.postgres import Server
from tests.support.stack import Stack, as_local_stage, started_stack

CHALICE = str(Path(sys.executable).parent / "chalice")


@pytest.fixture(scope="module")
def chalice_stack(server: Server) -> Iterator[Stack]:
    """A stack whose handlers are left to ``chalice deploy``."""
    with started_stack(server, HandlersDeployedBy="chalice") as started:
        yield started


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of chalice_app/ (the command writes the stage into its .chalice/config.json)."""
    copy = tmp_path / "chalice_app"
    shutil.copytree(
        REPO / "chalice_app",
        copy,
        ignore=shutil.ignore_patterns("deployments", "deployed", "__pycache__"),
    )
    return copy


def chalice_deploy(project: Path) -> subprocess.CompletedProcess[str]:
    """``chalice deploy --stage local`` in ``project``, with ``stack.env`` in the environment."""
    env = {**os.environ, **{k: v for k, v in local_values().items() if k.startswith("AWS_")}}
    return subprocess.run(
        [CHALICE, "deploy", "--stage", "local"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_chalice_deploy_refuses_a_stage_not_configured_from_the_stack(
    chalice_stack, project, monkeypatch
):
    as_local_stage(chalice_stack, monkeypatch)
    result = chalice_deploy(project)
    assert result.returncode != 0
    assert "you must provide an 'iam_role_arn'" in result.stdout + result.stderr
    functions = chalice_stack.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions] == []


def test_chalice_deploy_from_the_stacks_outputs_runs_the_pipeline(
    chalice_stack, project, monkeypatch, capsys
):
    stack = as_local_stage(chalice_stack, monkeypatch)
    assert cli.main(["chalice-config", "--stage", "local", "--project-dir", str(project)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"then, in {project}: chalice deploy --stage local"
    )
    for attempt in (1, 2):  # the second deploy updates what the first created
        result = chalice_deploy(project)
        assert result.returncode == 0, f"attempt {attempt}:\n{result.stdout}\n{result.stderr}"

    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in stack.client("cloudformation").describe_stacks(StackName="flightpipe-local")[
            "Stacks"
        ][0]["Outputs"]
    }
    handlers = {
        "DATA_BUCKET": stack.pipeline.data_bucket,
        "STATE_MACHINE_ARN": stack.pipeline.state_machine_arn,
        "ALERTS_TOPIC_ARN": stack.pipeline.alerts_topic_arn,
        "STAGE": "local",
    }
    wanted = {
        "on_object_created": (outputs["ObjectCreatedHandlerRoleArn"], handlers),
        "on_execution_failed": (outputs["ExecutionFailedHandlerRoleArn"], handlers),
        "day_is_free": (outputs["DayIsFreeRoleArn"], {"DAY_JOB_NAME": stack.pipeline.job}),
    }
    assert set(wanted) == set(HANDLERS)
    for handler, (role, environment) in wanted.items():
        found = stack.client("lambda").get_function_configuration(
            FunctionName=f"flightpipe-local-{handler}"
        )
        assert found["Role"] == role
        assert found["Environment"]["Variables"] == environment
    config = json.loads((project / ".chalice" / "config.json").read_text())
    assert set(config["stages"]) == {"local"}

    # The handler chalice deployed starts the executions: the dimension, then a day, load.
    load_airports(stack)
    day = loaded_day(
        stack,
        "2014-05-01",
        "Carrier,OriginAirportID,DestAirportID,DepDelay,ArrDelay\nAA,10397,12478,90,80\n",
    )
    assert day.rows == [("AA", 90)]
