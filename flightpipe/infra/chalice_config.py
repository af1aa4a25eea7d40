"""``make chalice-config STAGE=<stage>``: the stage's section of Chalice's ``config.json`` from
the deployed stack's outputs, so that ``chalice deploy --stage <stage>`` (run in
``chalice_app/``) deploys the handlers as the stack would.

Each handler's role and environment are what ``infra/pipeline.yaml`` gives its function
(``Role``, ``Environment.Variables``), each value read from the stack output that states the
same expression (``!Ref DataBucket`` from the output ``DataBucket``, ``!GetAtt
ObjectCreatedHandlerRole.Arn`` from ``ObjectCreatedHandlerRoleArn``): the template stays the one
place that says what a handler gets, and a value no output gives is an error naming it.

Nothing of a deployment is committed: the repository's ``config.json`` has no stage, so a
``chalice deploy`` before this command stops at Chalice's own check ("When 'manage_iam_role' is
set to false, you must provide an 'iam_role_arn'") before it creates anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flightpipe.infra import template as infra
from flightpipe.paths import CHALICE_DIR

PROJECT_DIR = CHALICE_DIR
# Chalice's handler names (app.py) and the template's logical ids of their functions.
HANDLERS = {
    "on_object_created": "OnObjectCreated",
    "on_execution_failed": "OnExecutionFailed",
    "day_is_free": "DayIsFree",
}


class ChaliceConfigError(RuntimeError):
    """The stack's outputs do not give what a handler needs."""


def stage_section(
    template: Mapping[str, Any], outputs: Mapping[str, str], stage: str
) -> dict[str, Any]:
    """The ``stages.<stage>`` section: each handler's role and environment."""
    by_expression = {
        _key(output["Value"]): name
        for name, output in template["Outputs"].items()
        if "Condition" not in output
    }

    def value(expression: Any) -> str:
        if expression == {"Ref": "Stage"}:
            return stage
        name = by_expression.get(_key(expression))
        if name is None:
            raise ChaliceConfigError(
                f"no output of infra/pipeline.yaml states {json.dumps(expression)}: add one"
            )
        if name not in outputs:
            raise ChaliceConfigError(
                f"the stack flightpipe-{stage} has no output {name}: deploy it again"
            )
        return outputs[name]

    functions = {}
    for handler, logical in HANDLERS.items():
        properties = template["Resources"][logical]["Properties"]
        functions[handler] = {
            "iam_role_arn": value(properties["Role"]),
            "environment_variables": {
                name: value(expression)
                for name, expression in properties["Environment"]["Variables"].items()
            },
        }
    return {
        # Chalice's check wants a role for the stage as well; each handler names its own.
        "iam_role_arn": functions["on_object_created"]["iam_role_arn"],
        "lambda_functions": functions,
    }


def _key(expression: Any) -> str:
    return json.dumps(expression, sort_keys=True)


def write(project_dir: Path, stage: str, section: Mapping[str, Any]) -> Path:
    """Put ``section`` in ``project_dir``'s ``.chalice/config.json`` as the stage ``stage``,
    leaving the rest of the file as it was."""
    path = project_dir / ".chalice" / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.setdefault("stages", {})[stage] = dict(section)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def configure(stage: str, outputs: Mapping[str, str], project_dir: Path = PROJECT_DIR) -> Path:
    return write(project_dir, stage, stage_section(infra.load(), outputs, stage))
