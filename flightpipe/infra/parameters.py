"""``flightpipe parameters``: the stack parameters ``make deploy`` passes to ``aws cloudformation
deploy``, as one file, so that no value goes through a shell.

A password may hold ``$``, ``;``, ``&``, ``(``, ``|``, quotes or spaces (Redshift allows them),
which a value pasted into a make recipe's command line loses or turns into commands, and a
command line ends up in shell history. So ``make deploy PARAMS_FILE=<file>`` reads the values
from a file in CloudFormation's own parameter format (``[{"ParameterKey": ..., "ParameterValue":
...}]``, as ``aws cloudformation create-stack --parameters file://`` takes), and this command
writes them, with the values make sets itself, as the AWS CLI's file form of
``--parameter-overrides`` (``file://``: a JSON list of ``Key=Value`` strings, each split at its
first ``=`` by the CLI). ``PARAMS`` stays for plain values; a password there is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

# Parameters whose values are secrets: never on a command line.
SECRET_PARAMETERS = ("WarehousePassword",)
# Parameters make deploy sets itself (the Makefile's deploy recipe), never a person.
SET_BY_MAKE_DEPLOY = ("Stage", "ArtifactBucket", "ArtifactPrefix", "GlueLibraryPrefix")


class ParameterError(ValueError):
    """The parameters cannot be passed as given; the message says how to pass them."""


def read_file(path: Path) -> dict[str, str]:
    """The parameters of a file in CloudFormation's parameter format."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ParameterError(f"{path}: not a readable JSON file ({error})") from error
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("ParameterKey"), str) for e in entries
    ):
        raise ParameterError(
            f'{path}: expected [{{"ParameterKey": "...", "ParameterValue": "..."}}, ...]'
        )
    values = {}
    for entry in entries:
        value = entry.get("ParameterValue")
        if not isinstance(value, str):
            raise ParameterError(f"{path}: {entry['ParameterKey']} has no text ParameterValue")
        values[entry["ParameterKey"]] = value
    return values


def overrides(
    assignments: Sequence[str], from_file: dict[str, str] | None = None
) -> dict[str, str]:
    """``Key=Value`` assignments from a command line (make's own values and ``PARAMS``), then the
    file's values, which win; a secret among the assignments is refused."""
    values: dict[str, str] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ParameterError(f"{assignment!r} is not Key=Value")
        if key in SECRET_PARAMETERS:
            raise ParameterError(
                f"{key} on the command line would be split by the shell and kept in its history: "
                "put it in PARAMS_FILE (docs/operations.md, 'Deploying to AWS') "
                "or use WarehouseSecretArn"
            )
        values[key] = value
    return {**values, **(from_file or {})}


def write_overrides(values: dict[str, str], target: Path) -> Path:
    """``values`` as the AWS CLI reads ``--parameter-overrides file://<target>``, readable by
    its owner only."""
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump([f"{key}={value}" for key, value in values.items()], out)
    return target
