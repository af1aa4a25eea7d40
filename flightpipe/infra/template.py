"""infra/pipeline.yaml as data, for the code and tests that read the template's facts.

The template is deployed by CloudFormation (AWS's, or LocalStack's for the stage local:
``flightpipe.stack.deploy``); nothing here evaluates it. Readers take what the file states
(the state machine's substitutions, a parameter's default, a job's arguments) and a parity test
compares the deployed stack with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flightpipe.paths import TEMPLATE


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, decoded by cfn-lint's CloudFormation YAML reader (short-form
    tags such as ``!Sub`` become their ``Fn::`` mappings)."""
    from cfnlint.decode import cfn_yaml

    decoded = cfn_yaml.loads(path.read_text(encoding="utf-8"), str(path))
    plain: dict[str, Any] = json.loads(json.dumps(decoded))  # cfn-lint's nodes -> dict, str
    return plain
