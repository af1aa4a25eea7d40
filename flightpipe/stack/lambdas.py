"""Lambda functions of a Chalice app, as in-process Python handlers for the local stack.

``chalice deploy`` names each event-handler function ``<app_name>-<stage>-<handler name>`` and
deploys the decorated function, which Chalice wraps to take ``(event, context)``. This module
imports the app the same way Lambda does (``app.py`` with ``chalicelib/`` beside it) and
describes each function as ``chalice package`` does (its resource name in the template, its
handler string, its EventBridge patterns, the stage's environment variables from
``.chalice/config.json``), with the very callable as its handler, so EventBridge targets reach
the code that is deployed. ``set_environment`` sets a function's variables in this process, as
Lambda sets them for the function.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# variable -> (function that set it, value): the functions share this process's environment.
_environment: dict[str, tuple[str, str]] = {}


@dataclass(frozen=True)
class ChaliceFunction:
    """One event-handler function of a Chalice app."""

    name: str  # as ``chalice deploy`` names it: <app_name>-<stage>-<handler name>
    logical_id: str  # its resource in ``chalice package``'s template
    handler_string: str  # "app.<attribute>", the template's Handler
    handler: Any  # handler(event, context)
    # ``chalice package``'s event name -> EventBridge pattern, for @app.on_cw_event handlers
    event_patterns: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)  # .chalice/config.json's


def chalice_functions(app_dir: Path, stage: str) -> list[ChaliceFunction]:
    """The event-handler functions of the Chalice app in ``app_dir``, for ``stage``."""
    from chalice.utils import to_cfn_resource_name

    app_dir = app_dir.resolve()
    config = json.loads((app_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))
    app_name = config["app_name"]
    environment = {
        **config.get("environment_variables", {}),
        **config.get("stages", {}).get(stage, {}).get("environment_variables", {}),
    }
    module = _import_app(app_dir, app_name)
    functions = []
    for source in module.app.event_sources:
        pattern = getattr(source, "event_pattern", None)
        functions.append(
            ChaliceFunction(
                name=f"{app_name}-{stage}-{source.name}",
                logical_id=to_cfn_resource_name(source.name),
                handler_string=source.handler_string,
                handler=getattr(module, source.handler_string.rsplit(".", 1)[-1]),
                event_patterns=(
                    {to_cfn_resource_name(f"{source.name}-event"): pattern}
                    if isinstance(pattern, dict)
                    else {}
                ),
                environment=environment,
            )
        )
    return functions


def set_environment(function_name: str, variables: Mapping[str, str]) -> None:
    """Set ``variables`` in this process for ``function_name``. The local functions share one
    process, so two functions may not give one variable different values."""
    for variable, value in variables.items():
        owner, current = _environment.get(variable, (function_name, value))
        if current != value:
            raise ValueError(
                f"{function_name} sets {variable}={value!r} but {owner} set {current!r}: "
                "the local stack runs every function in one process"
            )
        _environment[variable] = (owner, value)
    os.environ.update(variables)  # as Lambda sets them for the function


def _import_app(app_dir: Path, app_name: str) -> Any:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location(f"chalice_app_{app_name}", app_dir / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {app_dir / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
