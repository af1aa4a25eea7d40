"""``make deploy``'s parameters: any character of any value reaches ``aws cloudformation deploy``
as it was written, because no value passes through a shell.

The file ``flightpipe parameters`` writes is read back here by the AWS CLI's own code, as
``aws cloudformation deploy --parameter-overrides file://...`` reads it: ``file://`` loaded by
``awscli.paramfile``, the JSON list parsed as the CLI parses a list argument, each item split
by ``DeployCommand.parse_key_value_arg`` (awscli/customizations/cloudformation/deploy.py).
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys

import awscli.argprocess  # noqa: F401 (imports awscli.paramfile in the order the CLI does)
import pytest
from awscli.customizations.cloudformation.deploy import DeployCommand
from awscli.paramfile import LOCAL_PREFIX_MAP, get_paramfile

HOSTILE = "p$w;rd & (x) | `id` 'q' \"dq\" \\ a=b\nnext line \u00e9"


def flightpipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flightpipe", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def as_the_aws_cli_reads(path) -> dict[str, str]:
    text = get_paramfile(f"file://{path}", LOCAL_PREFIX_MAP)
    return DeployCommand.parse_key_value_arg(None, json.loads(text), "parameter_overrides")


def test_every_character_of_a_file_value_reaches_the_aws_cli(tmp_path):
    params = tmp_path / "dev.json"
    params.write_text(
        json.dumps(
            [
                {"ParameterKey": "WarehousePassword", "ParameterValue": HOSTILE},
                {"ParameterKey": "AlertEmail", "ParameterValue": "ops@example.com"},
            ]
        ),
        encoding="utf-8",
    )
    out = tmp_path / "overrides.json"

    done = flightpipe(
        "parameters", "--out", str(out), "--file", str(params), "Stage=dev", "ArtifactBucket=b"
    )

    assert done.returncode == 0, done.stderr
    assert as_the_aws_cli_reads(out) == {
        "Stage": "dev",
        "ArtifactBucket": "b",
        "WarehousePassword": HOSTILE,
        "AlertEmail": "ops@example.com",
    }
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_password_on_the_command_line_is_refused_naming_the_way_to_pass_it(tmp_path):
    out = tmp_path / "overrides.json"
    done = flightpipe("parameters", "--out", str(out), "Stage=dev", "WarehousePassword=x")
    assert done.returncode == 2
    assert "PARAMS_FILE" in done.stderr and "WarehouseSecretArn" in done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON file"),
        ('{"WarehousePassword": "x"}', '"ParameterKey"'),
        ('[{"ParameterKey": "A"}]', "A has no text ParameterValue"),
    ],
)
def test_a_file_not_in_cloudformations_format_is_refused(tmp_path, content, message):
    params = tmp_path / "dev.json"
    params.write_text(content, encoding="utf-8")
    done = flightpipe("parameters", "--out", str(tmp_path / "o.json"), "--file", str(params))
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_the_parameters_make_deploy_sets_itself_are_the_ones_preflight_does_not_ask_for():
    """``make preflight`` checks the parameters a person gives; the deploy recipe sets the rest."""
    from flightpipe.infra.parameters import SET_BY_MAKE_DEPLOY
    from flightpipe.paths import REPO

    recipe = (REPO / "Makefile").read_text().split("\ndeploy:", 1)[1].split("\n\n", 1)[0]
    call = recipe.split("flightpipe parameters", 1)[1].split("&&", 1)[0]
    assert tuple(re.findall(r"\b([A-Z][A-Za-z]+)=", call)) == SET_BY_MAKE_DEPLOY
