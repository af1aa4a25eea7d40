"""A function logs to the log group its ``LoggingConfig`` names (LocalStack 4.13.1).

"By default, Lambda sends logs to a log group named /aws/lambda/<function name>. ... you can
choose a custom log group" (Lambda Developer Guide, "Configuring advanced logging controls":
``LoggingConfig.LogGroup``, CreateFunction API reference). The stack gives each function a log
group of its own with a retention (infra/pipeline.yaml), so that Lambda does not create one that
never expires. LocalStack keeps the setting (``function_version.config.logging_config``) but
``ExecutionEnvironment.get_log_group_name`` always answers ``/aws/lambda/<function name>``, so
local logs land where AWS's never would, and a tool that reads the configured group finds
nothing locally.

``install`` makes ``get_log_group_name`` answer the configured group when there is one (which
also sets the function's ``AWS_LAMBDA_LOG_GROUP_NAME``, as on AWS).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from flightpipe_localstack import patching

PATCH_ID = "flightpipe.lambda_log_group"


def install() -> bool:
    from localstack.services.lambda_.invocation.execution_environment import (
        ExecutionEnvironment,
    )

    original = vars(ExecutionEnvironment).get("get_log_group_name")

    def expect(current: Any) -> str | None:
        source = inspect.getsource(current)
        if "logging_config" in source:
            return "reads the function's logging config itself now (fixed upstream?)"
        return None if '"/aws/lambda/' in source else "no longer answers /aws/lambda/<name>"

    @functools.wraps(original)
    def get_log_group_name(self: Any) -> str:
        configured = (self.function_version.config.logging_config or {}).get("LogGroup")
        return str(configured) if configured else original(self)

    return patching.replace(
        ExecutionEnvironment, "get_log_group_name", get_log_group_name, PATCH_ID, expect
    )
