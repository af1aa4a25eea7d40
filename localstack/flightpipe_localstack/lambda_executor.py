"""A LocalStack Lambda runtime executor without Docker: ``LAMBDA_RUNTIME_EXECUTOR=subprocess``.

Each invocation of a ``python3.11`` Zip function runs in a fresh child process
``python3.11 -I -S -B -u -X utf8 lambda_bootstrap.py ...`` on the host:

- ``-I -S``: nothing of the host's Python is importable (no site-packages, no PYTHON* variables,
  no script or working directory on sys.path). The child's sys.path is the function's unpacked code,
  then LAMBDA_SUBPROCESS_RUNTIME_DIR (what AWS's runtime has in /var/runtime: boto3, botocore and
  their dependencies, made with ``pip install --target``), then the standard library; an import of
  anything else fails, as on AWS.
- ``-B``: no .pyc written into the code directory (read-only /var/task on AWS).
- ``-u``: unbuffered stdout/stderr (awslambdaric wraps them in Unbuffered), so logs keep their
  order.
- ``-X utf8``: UTF-8 I/O, as AWS's LANG=en_US.UTF-8 gives.

One process per invocation (always a cold start) keeps the executor small: no runtime API to
serve, the timeout is a kill, the logs of an invocation are exactly its process's output, and a
changed function (or hot-reloaded code) is picked up at the next invocation. What is lost is the
reuse of a warm process (module-level state, connections).

Configuration (environment of the LocalStack process):
  LAMBDA_SUBPROCESS_RUNTIME_DIR  required: the runtime directory
                                 (pip install --target DIR boto3==...)
  LAMBDA_SUBPROCESS_PYTHON       optional: the Python 3.11 interpreter (default: python3.11 on PATH)
"""

import base64
import contextlib
import functools
import json
import logging
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import NAMESPACE
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from localstack import config

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
SUPPORTED_RUNTIME = "python3.11"
# AWS limits the init phase of an on-demand function to 10 s, not counted in the function timeout
INIT_TIMEOUT_SECONDS = 10


@functools.cache
def python_executable() -> str:
    """The Python 3.11 interpreter's real path (not a shim such as pyenv's), checked once."""
    python = os.environ.get("LAMBDA_SUBPROCESS_PYTHON") or shutil.which("python3.11")
    if not python:
        raise LambdaRuntimeException(
            "subprocess executor: no python3.11 on PATH (set LAMBDA_SUBPROCESS_PYTHON)"
        )
    out = subprocess.run(
        [
            python,
            "-I",
            "-S",
            "-c",
            "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    version, _, executable = out.stdout.strip().partition(" ")
    if out.returncode != 0 or version != "3.11":
        raise LambdaRuntimeException(
            f"subprocess executor: {python} is not Python 3.11 "
            f"({out.stdout.strip() or out.stderr.strip()})"
        )
    return executable


def runtime_dir() -> Path:
    value = os.environ.get("LAMBDA_SUBPROCESS_RUNTIME_DIR")
    if not value or not Path(value, "boto3").is_dir():
        raise LambdaRuntimeException(
            f"subprocess executor: LAMBDA_SUBPROCESS_RUNTIME_DIR={value!r} is not a directory "
            "holding boto3 (make it with: python3.11 -m pip install --target DIR "
            "boto3==<pin> botocore==<pin>)"
        )
    return Path(value)


def gateway_host() -> str:
    """The address at which a process on this host reaches LocalStack's gateway."""
    host = config.GATEWAY_LISTEN[0].host
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


class SubprocessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.env_vars: dict[str, str] = {}
        self.process: subprocess.Popen | None = None
        self.last_logs = ""

    # --- lifecycle: nothing runs between invocations ---

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        # called when a version is created/updated (version_manager.py); an exception here puts the
        # function in state Failed with the message as StateReason
        fv_config = function_version.config
        if fv_config.package_type != PackageType.Zip:
            raise LambdaRuntimeException("subprocess executor: only Zip functions are supported")
        if fv_config.runtime != SUPPORTED_RUNTIME:
            raise LambdaRuntimeException(
                f"subprocess executor: runtime {fv_config.runtime} is not supported "
                f"(only {SUPPORTED_RUNTIME})"
            )
        if fv_config.layers:
            raise LambdaRuntimeException("subprocess executor: layers are not supported")
        python_executable()
        runtime_dir()
        # unzips the code once per code object to <tmp>/lambda/<bucket>/<id>/code (lambda_models.py)
        fv_config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass  # the unzipped code belongs to LocalStack's code object, which removes it

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            python_executable()
            runtime_dir()
            return True
        except LambdaRuntimeException as e:
            LOG.warning("%s", e)
            return False

    def start(self, env_vars: dict[str, str]) -> None:
        code_dir = self.function_version.config.code.get_unzipped_code_location()
        # LocalStack's variables (execution_environment.py: get_environment_variables), as strings,
        # and none of the host's. Overridden: the paths, which are real here (/var/task and
        # /var/runtime do not exist on this host), and what AWS's Python runtime itself sets.
        self.env_vars = {key: str(value) for key, value in env_vars.items()}
        self.env_vars.update(
            {
                "LAMBDA_TASK_ROOT": str(code_dir),
                "LAMBDA_RUNTIME_DIR": str(runtime_dir()),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{SUPPORTED_RUNTIME}",
                "PATH": f"{Path(python_executable()).parent}:/usr/local/bin:/usr/bin:/bin",
                "LANG": "en_US.UTF-8",
            }
        )

    def stop(self) -> None:
        self._kill()

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        # used by LocalStack for AWS_ENDPOINT_URL and LOCALSTACK_HOSTNAME
        return gateway_host()

    def get_runtime_endpoint(self) -> str:
        # LOCALSTACK_RUNTIME_ENDPOINT; this executor does not call back (no init process)
        return f"http://{gateway_host()}:{config.GATEWAY_LISTEN[0].port}{NAMESPACE}/{self.id}"

    def get_logs(self) -> str:
        return self.last_logs

    # --- one invocation ---

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        fv_config = self.function_version.config
        timeout = fv_config.timeout
        with tempfile.TemporaryDirectory(prefix="lambda-invoke-") as tmp:
            request_file, result_file, log_file = (
                Path(tmp, n) for n in ("request.json", "result.json", "output.log")
            )
            request_file.write_text(
                json.dumps(
                    {
                        "handler": fv_config.handler,
                        "task_root": self.env_vars["LAMBDA_TASK_ROOT"],
                        "runtime_dir": self.env_vars["LAMBDA_RUNTIME_DIR"],
                        "request_id": request_id,
                        "invoked_function_arn": payload["invoked-function-arn"],
                        "payload": payload["payload"],
                        "timeout": timeout,
                    }
                )
            )
            status_read, status_write = os.pipe()
            started = time.perf_counter()
            with open(log_file, "wb") as log:
                process = self.process = subprocess.Popen(
                    [
                        python_executable(),
                        "-I",
                        "-S",
                        "-B",
                        "-u",
                        "-X",
                        "utf8",
                        str(BOOTSTRAP),
                        str(request_file),
                        str(result_file),
                        str(status_write),
                    ],
                    cwd=self.env_vars["LAMBDA_TASK_ROOT"],  # /var/task on AWS
                    env={**self.env_vars, "_X_AMZN_TRACE_ID": payload["trace-id"]},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(status_write,),
                    # its own process group: a timeout kills what it started too
                    start_new_session=True,
                )
            os.close(status_write)
            try:
                # 1) init: once the handler is imported the child writes "<deadline epoch ms> <init
                #    output size>"; end of file instead means it ended during init (init error,
                #    crash)
                init_log_size = deadline = None
                init_done = bool(select.select([status_read], [], [], INIT_TIMEOUT_SECONDS)[0])
                if init_done and (message := os.read(status_read, 64)):
                    deadline_ms, init_log_size = map(int, message.split())
                    deadline = deadline_ms / 1000
                handler_started = time.perf_counter()
                # 2) the handler runs until it returns or its deadline passes
                timed_out = not init_done
                if init_done:
                    try:
                        process.wait(
                            timeout=max(deadline - time.time(), 0)
                            if deadline
                            else INIT_TIMEOUT_SECONDS
                        )
                    except subprocess.TimeoutExpired:
                        timed_out = True
            finally:
                os.close(status_read)
                self._kill()
            duration_ms = (time.perf_counter() - handler_started) * 1000
            output = log_file.read_bytes()
            split = init_log_size or 0  # a byte offset
            init_output, invoke_output = (
                part.decode("utf-8", errors="replace") for part in (output[:split], output[split:])
            )
            result = (
                json.loads(result_file.read_text())
                if result_file.exists() and not timed_out
                else None
            )

        if timed_out:
            is_error, status = True, "timeout"
            body = {
                "errorMessage": (
                    f"RequestId: {request_id} Error: Task timed out after {timeout}.00 seconds"
                ),
                "errorType": "Sandbox.Timedout",
            }
            response = json.dumps(body, separators=(",", ":")).encode()
            duration_ms = min(duration_ms, timeout * 1000)
        elif result is None:  # the process ended without a result: sys.exit, os._exit, a signal...
            is_error, status = True, "error"
            exit_code = process.returncode
            reason = (
                f"signal: {signal.Signals(-exit_code).name.lower()}"
                if exit_code < 0
                else f"exit status {exit_code}"
            )
            body = {
                "errorType": "Runtime.ExitError",
                "errorMessage": (
                    f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
                ),
            }
            response = json.dumps(body, separators=(",", ":")).encode()
        else:
            is_error, status = result["is_error"], ""
            response = base64.b64decode(result["payload_b64"])

        self.last_logs = self._format_logs(
            request_id, init_output, invoke_output, duration_ms, result, status
        )
        LOG.debug(
            "Invocation %s of %s: %s in %.1f ms (process total %.1f ms)",
            request_id,
            self.function_version.qualified_arn,
            "error" if is_error else "ok",
            duration_ms,
            (time.perf_counter() - started) * 1000,
        )
        return InvocationResult(
            request_id=request_id, payload=response, is_error=is_error, logs=self.last_logs
        )

    def _format_logs(
        self, request_id, init_output, invoke_output, duration_ms, result, status
    ) -> str:
        """The envelope AWS and LocalStack's init write around a function's output:
        (init output) START ... (handler output) END ... REPORT ..."""
        if invoke_output and not invoke_output.endswith("\n"):
            invoke_output += "\n"
        memory_size = self.function_version.config.memory_size
        used = (result or {}).get("max_memory_mb") or memory_size
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory_size} MB\t"
            f"Max Memory Used: {used} MB\t"
        )
        if result and result.get("init_ms") is not None:
            report += f"Init Duration: {result['init_ms']:.2f} ms\t"
        if status:
            report += f"Status: {status}"
        return (
            f"{init_output}START RequestId: {request_id} "
            f"Version: {self.function_version.id.qualifier}\n"
            f"{invoke_output}END RequestId: {request_id}\n{report}\n"
        )

    def _kill(self) -> None:
        """Kill the child's process group: the child, if still running, and anything it started
        (AWS freezes, then discards, the whole sandbox)."""
        process, self.process = (
            self.process,
            None,
        )  # never signal a group id that may be reused later
        if process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class SubprocessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "subprocess"

    def load(self, *args, **kwargs):
        return SubprocessRuntimeExecutor
