"""``make package``'s artifacts: the merged CloudFormation passes cfn-lint, and it wires what
Chalice does not own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flightpipe import cloudformation
from tests.conftest import REPO

pytestmark = pytest.mark.functional

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("dist")
    merge = cloudformation.write(out / "merge-template.json")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    subprocess.run(
        [
            str(BIN / "chalice"),
            "package",
            "--stage",
            "dev",
            "--merge-template",
            str(merge),
            str(out / "chalice"),
        ],
        cwd=REPO / "chalice_app",
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {
        "dir": out / "chalice",
        "template": json.loads((out / "chalice" / "sam.json").read_text()),
    }


def test_the_template_passes_cfn_lint(packaged):
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(packaged["dir"] / "sam.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (packaged["dir"] / "deployment.zip").stat().st_size > 0


def test_every_placeholder_of_the_definition_is_substituted(packaged):
    machine = packaged["template"]["Resources"]["PipelineStateMachine"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(machine["Definition"])))
    assert placeholders == set(machine["DefinitionSubstitutions"])


def test_credentials_live_in_secrets_manager_not_in_plain_parameters(packaged):
    template = packaged["template"]
    assert template["Parameters"]["WarehousePassword"]["NoEcho"] is True
    properties = template["Resources"]["WarehouseConnection"]["Properties"]["ConnectionInput"][
        "ConnectionProperties"
    ]
    assert properties["SECRET_ID"] == {"Ref": "WarehouseSecret"}
    assert "PASSWORD" not in properties


def test_handlers_get_the_stack_resources_and_keep_their_logging(packaged):
    resources = packaged["template"]["Resources"]
    variables = resources["OnObjectCreated"]["Properties"]["Environment"]["Variables"]
    assert variables["STATE_MACHINE_ARN"] == {"Ref": "PipelineStateMachine"}
    statements = resources["DefaultRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    actions = {a for s in statements for a in s["Action"]}
    assert {"logs:PutLogEvents", "states:StartExecution", "sns:Publish"} <= actions
    assert resources["DataBucket"]["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert resources["DataEventsTrail"]["Type"] == "AWS::CloudTrail::Trail"
