"""Fix: ``arn:aws:states:::glue:startJobRun.sync`` fails with ``States.Runtime: 'NoneType' object
has no attribute 'interrupt_all'`` in LocalStack 4.13.1 (fixed upstream in 4.14.0).

``StateTaskServiceCallback._eval_integration_pattern`` creates a callback endpoint only when the
integration supports ``.waitForTaskToken``, then ends with
``finally: callback_endpoint.interrupt_all()``
unguarded. Glue is the only service integration whose patterns are ``{Sync}`` alone
(``state_task_service_glue.py``: ``_SUPPORTED_INTEGRATION_PATTERNS``), so every
``glue:startJobRun.sync``
task, succeeded or failed, ends in AttributeError, which the ``finally`` raises in place of the
task's outcome.

The fix is the upstream one, one line: the method is recompiled from its own source with that
statement guarded (``if callback_endpoint is not None: ...``, on the same line, so line numbers
in tracebacks stay LocalStack's). Nothing else of the method is copied here, so any other change
upstream is kept; if the unguarded statement is not found exactly once, the patch refuses.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

from flightpipe_localstack.patching import PatchError, replace

PATCH_ID = "flightpipe.sfn_sync_fix"
METHOD = "_eval_integration_pattern"
_UNGUARDED = re.compile(r"^(?P<indent>[ \t]+)callback_endpoint\.interrupt_all\(\)[ \t]*$", re.M)
_GUARDED = "{indent}if callback_endpoint is not None: callback_endpoint.interrupt_all()"
# Upstream's own fix: the call inside an ``if callback_endpoint...:`` of its own.
_UPSTREAM_GUARD = re.compile(
    r"^[ \t]*if callback_endpoint\b[^\n]*:[ \t]*\n[ \t]+callback_endpoint\.interrupt_all\(\)", re.M
)


def install() -> bool:
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (  # noqa: E501
        state_task_service_callback as module,
    )

    cls = module.StateTaskServiceCallback
    original = vars(cls).get(METHOD)
    if original is None:
        raise PatchError(
            f"[{PATCH_ID}] {cls.__qualname__}.{METHOD} does not exist: review the patch"
        )
    if getattr(original, "__flightpipe_patch__", None) == PATCH_ID:
        return False  # applied already

    try:
        lines, first_line = inspect.getsourcelines(original)
    except (OSError, TypeError) as error:
        raise PatchError(
            f"[{PATCH_ID}] no source for {cls.__qualname__}.{METHOD}: {error}"
        ) from None
    source = textwrap.dedent("".join(lines))
    if _UPSTREAM_GUARD.search(source):
        raise PatchError(
            f"[{PATCH_ID}] {cls.__qualname__}.{METHOD} guards interrupt_all() itself (fixed "
            "upstream in 4.14.0): drop this patch"
        )
    found = _UNGUARDED.findall(source)
    if len(found) != 1:
        raise PatchError(
            f"[{PATCH_ID}] {cls.__qualname__}.{METHOD}: expected exactly one unguarded "
            f"'callback_endpoint.interrupt_all()', found {len(found)} (fixed upstream in 4.14.0?): "
            "LocalStack changed, review the patch"
        )
    fixed = _UNGUARDED.sub(lambda m: _GUARDED.format(indent=m["indent"]), source)
    tree = ast.parse(fixed)
    ast.increment_lineno(tree, first_line - 1)
    namespace: dict = {}
    exec(compile(tree, inspect.getsourcefile(original), "exec"), vars(module), namespace)
    new = namespace[METHOD]
    if new.__code__.co_freevars:  # e.g. zero-argument super(): needs the class cell
        raise PatchError(f"[{PATCH_ID}] {METHOD} now uses closures {new.__code__.co_freevars}")
    new.__qualname__, new.__module__, new.__wrapped__ = (
        original.__qualname__,
        module.__name__,
        original,
    )

    def expect(current):
        return None if current is original else "changed while being patched"

    return replace(cls, METHOD, new, PATCH_ID, expect)
