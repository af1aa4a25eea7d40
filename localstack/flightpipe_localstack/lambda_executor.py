"""A LocalStack Lambda runtime executor without Docker: ``LAMBDA_RUNTIME_EXECUTOR=subprocess``.

Each execution environment of a ``python3.11`` Zip function is a child process
``python3.11 -I -S -B -u -X utf8 lambda_bootstrap.py ...`` on the host, which imports the
handler once (the Init phase) and then runs the environment's invocations one after another,
as AWS's runtime does in its sandbox: module-level state and connections outlive an
invocation, and only the first invocation of an environment is a cold start. LocalStack decides
when an environment starts, which invocation it gets and when it stops (its keep-alive, a
changed function); AWS resets an environment after a timeout or a crash ("Invoke phase
failures", AWS Lambda Developer Guide, "Understanding the Lambda execution environment
lifecycle"), and so does this executor: it kills the process, and the next invocation starts a
new one.

- ``-I -S``: nothing of the host's Python is importable (no site-packages, no PYTHON* variables,
  no script or working directory on sys.path). The child's sys.path is the function's unpacked code,
  then LAMBDA_SUBPROCESS_RUNTIME_DIR (what AWS's runtime has in /var/runtime: boto3, botocore and
  their dependencies, made with ``pip install --target``), then the standard library; an import of
  anything else fails, as on AWS.
- ``-B``: no .pyc written into the code directory (read-only /var/task on AWS).
- ``-u``: unbuffered stdout/stderr (awslambdaric wraps them in Unbuffered), so logs keep their
  order.
- ``-X utf8``: UTF-8 I/O, as AWS's LANG=en_US.UTF-8 gives.

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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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


@dataclass
class Environment:
    """A running child: its process, its pipes, and its log file (with where the output of the
    next invocation starts)."""

    process: subprocess.Popen
    requests: IO[str]
    status: int  # the read end of the status pipe
    log_file: Path
    log_start: int = 0
    init_ms: float | None = None  # reported with the environment's first invocation only
    init_failed: bool = False  # its first invocation is answered with the error, then it ends
    lines: bytes = b""

    def read_status(self, timeout: float) -> dict[str, Any] | None:
        """The child's next status line; None when it ended, TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.lines:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.status], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self.status, 65536)
            if not chunk:
                return None
            self.lines += chunk
        line, _, self.lines = self.lines.partition(b"\n")
        return dict(json.loads(line))

    def output(self, end: int | None = None) -> str:
        """The log output from ``log_start`` to ``end`` (to the end of the file if None)."""
        with open(self.log_file, "rb") as log:
            log.seek(self.log_start)
            data = log.read() if end is None else log.read(max(end - self.log_start, 0))
        return data.decode("utf-8", errors="replace")


class SubprocessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.env_vars: dict[str, str] = {}
        self.environment: Environment | None = None
        self.last_exit_code: int | None = None
        self.folder: tempfile.TemporaryDirectory | None = None
        self.last_logs = ""

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
        self.folder = tempfile.TemporaryDirectory(prefix="lambda-environment-")

    def stop(self) -> None:
        self._kill()
        if self.folder is not None:
            self.folder.cleanup()
            self.folder = None

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

    # --- the environment's process ---

    def _spawn(self) -> Environment:
        """A new child, its handler imported (or its init failed): the Init phase."""
        assert self.folder is not None, "start() was not called"
        log_file = Path(self.folder.name, f"output-{time.monotonic_ns()}.log")
        request_read, request_write = os.pipe()
        status_read, status_write = os.pipe()
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                [
                    python_executable(),
                    "-I",
                    "-S",
                    "-B",
                    "-u",
                    "-X",
                    "utf8",
                    str(BOOTSTRAP),
                    self.function_version.config.handler,
                    self.env_vars["LAMBDA_TASK_ROOT"],
                    self.env_vars["LAMBDA_RUNTIME_DIR"],
                    str(request_read),
                    str(status_write),
                ],
                cwd=self.env_vars["LAMBDA_TASK_ROOT"],  # /var/task on AWS
                env=self.env_vars,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(request_read, status_write),
                # its own process group: a kill ends what it started too
                start_new_session=True,
            )
        os.close(request_read)
        os.close(status_write)
        environment = self.environment = Environment(
            process, os.fdopen(request_write, "w", encoding="utf-8"), status_read, log_file
        )
        return environment

    # --- one invocation ---

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout = self.function_version.config.timeout
        started = time.perf_counter()
        environment, init_output = self.environment, ""
        if environment is None:
            environment = self._spawn()
            try:
                init = environment.read_status(INIT_TIMEOUT_SECONDS)
            except TimeoutError:  # init outlasted AWS's 10 s
                init_output = environment.output()
                self._kill()
                return self._failed(request_id, init_output, "", started, timeout, "timeout")
            if init is None:  # the process ended during init
                init_output = environment.output()
                self._kill()
                return self._failed(request_id, init_output, "", started, timeout, "error")
            environment.init_ms = init["init_ms"]
            environment.init_failed = init["init_ms"] is None
            init_output = environment.output(init["log_end"])
            environment.log_start = init["log_end"]
        handler_started = time.perf_counter()
        deadline_ms = int(time.time() * 1000) + timeout * 1000
        try:
            environment.requests.write(
                json.dumps(
                    {
                        "request_id": request_id,
                        "invoked_function_arn": payload["invoked-function-arn"],
                        "trace_id": payload["trace-id"],
                        "payload": payload["payload"],
                        "deadline_ms": deadline_ms,
                    }
                )
                + "\n"
            )
            environment.requests.flush()
            result = environment.read_status(timeout)
        except TimeoutError:
            output = environment.output()
            self._kill()
            return self._failed(
                request_id, init_output, output, handler_started, timeout, "timeout"
            )
        except BrokenPipeError:
            result = None
        if result is None:  # the process ended without a result: sys.exit, os._exit, a signal...
            output = environment.output()
            self._kill()
            return self._failed(request_id, init_output, output, handler_started, timeout, "error")
        invoke_output = environment.output(result["log_end"])
        environment.log_start = result["log_end"]
        duration_ms = (time.perf_counter() - handler_started) * 1000
        result["init_ms"], environment.init_ms = environment.init_ms, None
        if environment.init_failed:
            self._kill()
        self.last_logs = self._format_logs(
            request_id, init_output, invoke_output, duration_ms, result, ""
        )
        LOG.debug(
            "Invocation %s of %s: %s in %.1f ms (with init %.1f ms)",
            request_id,
            self.function_version.qualified_arn,
            "error" if result["is_error"] else "ok",
            duration_ms,
            (time.perf_counter() - started) * 1000,
        )
        return InvocationResult(
            request_id=request_id,
            payload=base64.b64decode(result["payload_b64"]),
            is_error=result["is_error"],
            logs=self.last_logs,
        )

    def _failed(
        self,
        request_id: str,
        init_output: str,
        output: str,
        started: float,
        timeout: int,
        status: str,
    ) -> InvocationResult:
        """An invocation that timed out or whose process ended: the error AWS answers."""
        duration_ms = (time.perf_counter() - started) * 1000
        if status == "timeout":
            body = {
                "errorMessage": (
                    f"RequestId: {request_id} Error: Task timed out after {timeout}.00 seconds"
                ),
                "errorType": "Sandbox.Timedout",
            }
            duration_ms = min(duration_ms, timeout * 1000)
        else:
            exit_code = self.last_exit_code
            reason = (
                f"signal: {signal.Signals(-exit_code).name.lower()}"
                if exit_code is not None and exit_code < 0
                else f"exit status {exit_code}"
            )
            body = {
                "errorType": "Runtime.ExitError",
                "errorMessage": (
                    f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
                ),
            }
        self.last_logs = self._format_logs(
            request_id, init_output, output, duration_ms, None, status
        )
        return InvocationResult(
            request_id=request_id,
            payload=json.dumps(body, separators=(",", ":")).encode(),
            is_error=True,
            logs=self.last_logs,
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
        (AWS freezes, then discards, the whole sandbox). Its exit code is kept for the error."""
        environment, self.environment = self.environment, None
        if environment is None:
            return
        # before wait(): until the child is reaped, its pid (the group's id) cannot be reused
        with contextlib.suppress(ProcessLookupError):
            os.killpg(environment.process.pid, signal.SIGKILL)
        environment.process.wait()
        self.last_exit_code = environment.process.returncode
        with contextlib.suppress(OSError):
            environment.requests.close()
        os.close(environment.status)
        with contextlib.suppress(OSError):
            environment.log_file.unlink()


class SubprocessRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "subprocess"

    def load(self, *args, **kwargs):
        return SubprocessRuntimeExecutor
