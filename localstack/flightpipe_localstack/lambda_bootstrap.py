"""Child side of the ``subprocess`` Lambda executor (lambda_executor.py): one execution
environment's runtime, as AWS's python3.11 runtime (awslambdaric's bootstrap) is one: the
handler imported once (the Init phase), then invocations one after another, until the parent
stops the process.

Started as
``python3.11 -I -S -B -u -X utf8 lambda_bootstrap.py HANDLER TASK_ROOT RUNTIME_DIR REQUEST_FD
STATUS_FD``. Standard library only, and nothing of it is importable by the function (-I keeps
this file's directory off sys.path). Protocol with the parent, one JSON object per line:
  - STATUS_FD, after init: ``{"init_ms", "log_end"}`` (``log_end``: where the init's output
    ends in the log file; ``init_ms`` null when init failed: then the first invocation is
    answered with the init's error and the process exits, as AWS resets such an environment).
  - REQUEST_FD, per invocation: ``{"request_id", "invoked_function_arn", "trace_id",
    "payload", "deadline_ms"}``; on STATUS_FD the answer ``{"is_error", "payload_b64",
    "max_memory_mb", "log_end"}`` once the handler returned or raised. The parent enforces the
    deadline (it kills the process, and the next invocation starts a new one, as AWS resets an
    environment after a timeout).
  - stdout/stderr: the function's log output, formatted as awslambdaric's StandardLogSink does,
    into one file the parent reads between offsets.
"""

import base64
import importlib
import json
import logging
import os
import sys
import time
import traceback

# awslambdaric: lambda_literals.lambda_unhandled_exception_warning_message (logged on init errors)
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. To determine if the runtime has been updated, check the "
    "runtime version in the INIT_START log entry. If this error correlates with a change in the "
    "runtime version, you may be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)
_request_id = ""  # the invocation's id, for error payloads
_log_request_id = ""  # awslambdaric logs init-time records with an empty request id


class Fault(Exception):
    """awslambdaric's FaultException: a runtime error with an AWS error type (Runtime.*)."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type, self.message, self.trace = error_type, message, trace


class LambdaContext:
    """The attributes awslambdaric's LambdaContext gives (values from the same env vars)."""

    def __init__(self, request_id, invoked_function_arn, deadline_ms):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
        )  # a str on AWS too
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = None
        self.identity = type("CognitoIdentity", (), {})()
        self.identity.cognito_identity_id = None
        self.identity.cognito_identity_pool_id = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))


def setup_logging():
    """awslambdaric _setup_logging (text format): a root handler writing to stdout with the request
    id; the root level stays WARNING unless AWS_LAMBDA_LOG_LEVEL is set, as on AWS."""

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _log_request_id
            return True

    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.terminator = ""  # the format ends with \n, as awslambdaric's
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(RequestIdFilter())
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in logging._nameToLevel:
        logging.getLogger().setLevel(level)
    logging.getLogger().addHandler(handler)


def get_handler(handler):
    """awslambdaric bootstrap._get_handler: same resolution and error types/messages."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}") from e
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {modname} as a handler module",
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}") from e
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise Fault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace
        ) from e
    try:
        return getattr(module, fname)
    except AttributeError as e:
        raise Fault(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        ) from e


def make_error(message, error_type, stack_trace):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": _request_id,
        "stackTrace": stack_trace or [],
    }


def error_from_exception(exc):
    if isinstance(exc, Fault):
        return make_error(exc.message, exc.error_type, exc.trace)
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].filename == __file__:  # drop the runtime's own frames, as AWS does
        frames = frames[1:]
    return make_error(str(exc), type(exc).__name__, traceback.format_list(frames))


def log_error(error):
    """awslambdaric log_error (text format): one log record, lines joined with \\r."""
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        description += (":" if error["errorType"] else "") + " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        for line in element.splitlines() or [""]:
            stripped = line.lstrip(" ")
            lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


def max_memory_mb():
    """Peak resident memory of this process. Not getrusage's ru_maxrss: on Linux it survives exec,
    so it would report the parent's (LocalStack's) size at fork. VmHWM belongs to the new image."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def log_offset():
    """Where the output written so far ends (stdout and stderr share one file offset: the parent
    opened the file without O_APPEND)."""
    sys.stdout.flush()
    sys.stderr.flush()
    return os.lseek(sys.stdout.fileno(), 0, os.SEEK_CUR)


def answer(status, **fields):
    status.write(json.dumps({**fields, "log_end": log_offset()}) + "\n")
    status.flush()


def invoke(handler, request):
    """One invocation: (is_error, payload bytes)."""
    global _request_id, _log_request_id
    _request_id = _log_request_id = request["request_id"]
    os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]  # awslambdaric sets it per invocation
    try:
        try:
            event = json.loads(request["payload"])
        except Exception as e:
            raise Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}") from e
        context = LambdaContext(
            _request_id, request["invoked_function_arn"], request["deadline_ms"]
        )
        response = handler(event, context)
        if isinstance(response, bytes):
            return False, response
        try:
            return False, json.dumps(response).encode()
        except Exception as e:
            raise Fault("Runtime.MarshalError", f"Unable to marshal response: {e}") from e
    except Exception as e:
        error = error_from_exception(e)
        log_error(error)
        return True, json.dumps(error).encode()


def main():
    handler_name, task_root, runtime_dir = sys.argv[1:4]
    requests = os.fdopen(int(sys.argv[4]), "r", encoding="utf-8")
    status = os.fdopen(int(sys.argv[5]), "w", encoding="utf-8")
    # AWS: sys.path = /var/task, (layers), /var/runtime, then the standard library; -S left out
    # every site-packages directory
    sys.path[0:0] = [task_root, runtime_dir]
    setup_logging()

    init_start = time.perf_counter()
    try:
        handler = get_handler(handler_name)
    except Exception as e:
        error = error_from_exception(e)
        logging.warning(UNHANDLED_WARNING)
        log_error(error)
        # awslambdaric answers the first invocation with the init's error, under its request id;
        # AWS then resets the environment
        answer(status, init_ms=None)
        request = json.loads(requests.readline() or "{}")
        error["requestId"] = request.get("request_id", "")
        answer(
            status,
            is_error=True,
            payload_b64=base64.b64encode(json.dumps(error).encode()).decode(),
            max_memory_mb=max_memory_mb(),
        )
        os._exit(0)
    answer(status, init_ms=(time.perf_counter() - init_start) * 1000)

    for line in requests:
        is_error, payload = invoke(handler, json.loads(line))
        answer(
            status,
            is_error=is_error,
            payload_b64=base64.b64encode(payload).decode(),
            max_memory_mb=max_memory_mb(),
        )
    # the parent closed the requests: the environment is shut down
    os._exit(0)


if __name__ == "__main__":
    main()
