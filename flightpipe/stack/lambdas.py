"""Lambda functions of a Chalice app, as in-process Python handlers for the local stack.

``chalice deploy`` names each event-handler function ``<app_name>-<stage>-<handler name>`` and
deploys the decorated function, which Chalice wraps to take ``(event, context)``. This module
imports the app the same way Lambda does (``app.py`` with ``chalicelib/`` beside it) and maps
those names to those very callables, so EventBridge targets reach the code that is deployed.
The stage's environment variables from ``.chalice/config.json`` are set in this process, as
Lambda sets them for the function.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any


def chalice_handlers(app_dir: Path, stage: str) -> dict[str, Any]:
    """``{function name: handler(event, context)}`` for the event sources of a Chalice app."""
    app_dir = app_dir.resolve()
    config = json.loads((app_dir / ".chalice" / "config.json").read_text(encoding="utf-8"))
    app_name = config["app_name"]
    environment = {
        **config.get("environment_variables", {}),
        **config.get("stages", {}).get(stage, {}).get("environment_variables", {}),
    }
    os.environ.update(environment)  # as Lambda sets them for the function
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location(f"chalice_app_{app_name}", app_dir / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {app_dir / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handlers = {}
    for source in module.app.event_sources:
        attribute = source.handler_string.rsplit(".", 1)[-1]
        handlers[f"{app_name}-{stage}-{source.name}"] = getattr(module, attribute)
    return handlers
