"""Workarounds for defects of moto 5.2.5's Step Functions interpreter, in one place.

The local stack runs state machines with moto's interpreter (``moto/stepfunctions/parser``,
a port of LocalStack's). These defects make it differ from AWS; each is patched here on a moto
class attribute (no moto file is modified), and each has a test in
``tests/integration/test_stack_stepfunctions.py`` that fails if the patch stops working, for
example after a moto upgrade. AWS's behaviour is the reference.

1. ``glue:startJobRun.sync`` tasks fail with ``'NoneType' object has no attribute
   'interrupt_all'``: ``StateTaskServiceCallback`` always tears down a task-token callback
   endpoint, which is never created for services that support only ``.sync`` (Glue). The
   ``.sync`` path is run here without one. AWS also fails the task when the run ends STOPPED;
   moto counts STOPPED as success, so STOPPED is added to the failing states.
2. DescribeExecution answers HTTP 500 when the output holds datetimes (a Glue JobRun's
   ``StartedOn``, ``$$.Execution.StartTime``), and ``aws-sdk:s3:getObject`` fails pickling its
   streaming body: moto keeps service responses as boto3 returns them. Task results are made
   JSON-safe (ISO-8601 timestamps, bodies as text) before they enter the state data, and the
   output is serialised datetime-aware; ``$$.Execution.StartTime`` is an ISO-8601 string, as on
   AWS. Alongside: moto reports SUCCEEDED before it sets the output, so a poll in between sees
   no output; the output is set first.
3. StartExecution without a name names the execution "None" (ARN ending ``:None``), so a
   second unnamed start returns the first execution or fails. A UUID is used, as AWS does, and
   given names are validated.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from botocore.response import StreamingBody

_applied = False


def jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO-8601 strings and bodies/bytes as text."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8", errors="replace")
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def apply() -> None:
    """Apply every workaround (idempotent); call before the first StartExecution."""
    global _applied
    if _applied:
        return
    _glue_sync_without_callback_endpoint()
    _json_safe_task_results()
    _iso_start_time_in_context()
    _output_before_status()
    _generated_execution_names()
    _applied = True


def _glue_sync_without_callback_endpoint() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_glue as glue_module,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )

    callback = callback_module.StateTaskServiceCallback
    original = callback._eval_integration_pattern

    def eval_integration_pattern(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: Any,
        state_credentials: Any,
    ) -> None:
        token_capable = ResourceCondition.WaitForTaskToken in self._supported_integration_patterns
        if token_capable or self.resource.condition != ResourceCondition.Sync:
            return original(
                self, env, resource_runtime_part, normalised_parameters, state_credentials
            )
        task_output = env.stack.pop()
        self.timeout.eval(env=env)
        timeout_seconds = env.stack.pop()
        env.stack.append(task_output)
        resolver = self._build_sync_resolver(
            env=env,
            resource_runtime_part=resource_runtime_part,
            normalised_parameters=normalised_parameters,
            state_credentials=state_credentials,
        )
        outcome = self._eval_sync(
            env=env,
            sync_resolver=resolver,
            timeout_seconds=timeout_seconds,
            callback_endpoint=None,
            heartbeat_endpoint=None,
        )
        env.stack.append(outcome)
        return None

    setattr(callback, "_eval_integration_pattern", eval_integration_pattern)
    glue_module._JOB_RUN_STATE_ABNORMAL_TERMINAL_VALUE.add("STOPPED")


def _json_safe_task_results() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.responses import StepFunctionResponse

    after_eval = StateTaskService._after_eval_execution

    def after_eval_execution(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
        if env.stack:
            env.stack[-1] = jsonable(env.stack[-1])
        return after_eval(self, env, *args, **kwargs)

    setattr(StateTaskService, "_after_eval_execution", after_eval_execution)

    describe = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        try:
            execution = self.stepfunction_backend.describe_execution(
                self._get_param("executionArn")
            )
        except Exception:  # the original call raises the proper AWS error
            execution = None
        output = getattr(execution, "output", None)
        if output is not None and not isinstance(output, str):
            execution.output = to_json_str(output, separators=(",", ":"))
        return describe(self)

    setattr(StepFunctionResponse, "describe_execution", describe_execution)


def _iso_start_time_in_context() -> None:
    """``$$.Execution.StartTime`` is an ISO-8601 string on AWS; moto puts a datetime there,
    which then breaks ``States.JsonToString`` and any task given it."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    build = ExecutionWorker._get_evaluation_environment

    def get_evaluation_environment(self: Any) -> Any:
        env = build(self)
        execution = env.states.context_object.context_object_data["Execution"]
        start = execution.get("StartTime")
        if isinstance(start, datetime.datetime):
            stamp = start.astimezone(datetime.UTC)
            execution["StartTime"] = (
                stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
            )
        return env

    setattr(ExecutionWorker, "_get_evaluation_environment", get_evaluation_environment)


def _output_before_status() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect_execution_status(self: Any) -> None:
        env = self.execution.exec_worker.env
        if isinstance(env.program_state(), ProgramEnded):
            self.execution.output = jsonable(env.states.get_input())
            self.execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
            self.execution.exec_status = ExecutionStatus.SUCCEEDED
            return
        reflect(self)

    setattr(BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect_execution_status)


def _generated_execution_names() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        if name:
            self._validate_name(name)
        else:
            name = str(uuid.uuid4())
        return start(self, state_machine_arn, name, execution_input, trace_header)

    setattr(StepFunctionsParserBackend, "start_execution", start_execution)
